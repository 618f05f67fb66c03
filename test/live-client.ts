/** Reads live streams in tests: Server-Sent Events frames from a streamed response. */

export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
}

/** A stream reader that hands out parsed frames (heartbeat comments dropped) as they arrive. */
export function sseReader(response: Response) {
  if (response.body === null) throw new Error("the response has no body");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const frames: SseFrame[] = [];
  let done = false;
  const pump = async (): Promise<void> => {
    const { value, done: ended } = await reader.read();
    if (ended) {
      done = true;
      return;
    }
    buffered += decoder.decode(value, { stream: true });
    for (let end = buffered.indexOf("\n\n"); end !== -1; end = buffered.indexOf("\n\n")) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const frame: SseFrame = {};
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).trimStart();
        if (field === "id" || field === "event" || field === "data") frame[field] = value;
      }
      if (frame.event !== undefined || frame.data !== undefined) frames.push(frame);
    }
  };
  return {
    /** Waits for `count` more frames of events (or the end of the stream) and returns them. */
    async next(count: number): Promise<SseFrame[]> {
      while (frames.length < count && !done) await pump();
      return frames.splice(0, count);
    },
    get ended() {
      return done;
    },
    cancel: () => reader.cancel(),
  };
}
