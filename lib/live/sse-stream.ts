/**
 * The Server-Sent Events transport: one streamed response per stream, which any platform that streams a
 * function's answer (Vercel, Deno Deploy, a Bun server) carries. `id:` is the event's number, so a client's
 * Last-Event-ID resumes after it.
 */
import {
  type LiveFrames,
  type LiveStream,
  type LiveTransport,
  type OpenLiveStream,
  openLiveStream,
} from "./live-stream.ts";

export const SSE_FRAMES: LiveFrames = {
  event: (event) => `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(eventMessage(event))}\n\n`,
  heartbeat: () => ": heartbeat\n\n",
  truncated: (startsAfter) => `event: stream.truncated\ndata: ${JSON.stringify({ startsAfter })}\n\n`,
};

/** An event as both transports put it on the wire. */
export function eventMessage(event: { seq: number; type: string; data: unknown; createdAt: string }) {
  return { id: String(event.seq), type: event.type, data: event.data, createdAt: event.createdAt };
}

const encoder = new TextEncoder();

/** Opens the stream and answers with it; the stream ends when the client goes away or the stream closes itself. */
export async function sseResponse(open: Omit<OpenLiveStream, "transport" | "frames">): Promise<Response> {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let stream: LiveStream | undefined;
  let closed = false;
  const transport: LiveTransport = {
    send(frame) {
      if (closed || controller === undefined) return 0;
      controller.enqueue(encoder.encode(frame));
      // With a high-water mark of 0, what the client has not read yet is the negative desired size.
      return -(controller.desiredSize ?? 0);
    },
    close(code, reason) {
      if (closed) return;
      controller?.enqueue(encoder.encode(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`));
      closed = true;
      controller?.close();
    },
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
        // Sent at once, so proxies and the client see the stream open before the first event.
        streamController.enqueue(encoder.encode("retry: 1000\n\n"));
      },
      cancel() {
        closed = true;
        stream?.end();
      },
    },
    { highWaterMark: 0, size: (chunk) => chunk?.byteLength ?? 0 },
  );
  stream = await openLiveStream({ ...open, transport, frames: SSE_FRAMES });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "x-accel-buffering": "no" },
  });
}
