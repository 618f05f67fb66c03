/** Concurrent misses for one key in this process wait for the first one's answer instead of each computing it. */

export interface Flight<T> {
  readonly promise: Promise<T>;
  settle(value: T): void;
}

export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  /** The flight under way for `key`, if any. */
  joined(key: string): Promise<T> | undefined {
    return this.flights.get(key)?.promise;
  }

  /** Starts the flight for `key`; settling it hands the value to everyone who joined and ends it. */
  start(key: string): Flight<T> {
    const { promise, resolve } = Promise.withResolvers<T>();
    let settled = false;
    const flight: Flight<T> = {
      promise,
      settle: (value) => {
        if (settled) return;
        settled = true;
        this.flights.delete(key);
        resolve(value);
      },
    };
    this.flights.set(key, flight);
    return flight;
  }
}
