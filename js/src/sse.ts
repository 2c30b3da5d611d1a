// A Server-Sent Events parser, written to the WHATWG "event stream
// interpretation" rules, and a reader that feeds it from a fetch response.
// Both browsers and Node use it: EventSource cannot POST, cannot send headers
// and hides error bodies, and Node 20 has no EventSource.

/** One dispatched SSE message. */
export interface SSEMessage {
  /** The event type; "message" when the frame had no event field. */
  event: string;
  /** The data lines joined with "\n". */
  data: string;
  /** The last event ID after this frame (it persists across frames, as in EventSource). */
  lastEventId: string;
  /** Whether this frame itself carried an id field. */
  hasId: boolean;
}

export interface SSEHandlers {
  onMessage(msg: SSEMessage): void;
  /** Called with a valid retry field, in milliseconds. */
  onRetry?(ms: number): void;
}

/**
 * SSEParser turns text chunks into messages. Lines end with CRLF, LF or CR
 * (a CR at the end of one chunk and an LF at the start of the next are one
 * line end). Comments (lines starting with ":") are ignored, a leading BOM is
 * dropped, data lines are joined with LF, an id containing NUL is ignored,
 * retry takes only ASCII digits, and a frame without data dispatches nothing
 * (its id still counts).
 */
export class SSEParser {
  private buf = '';
  private sawCR = false;
  private started = false;
  private data: string[] = [];
  private eventType = '';
  private frameHasId = false;
  lastEventId: string;

  constructor(
    private readonly handlers: SSEHandlers,
    lastEventId = '',
  ) {
    this.lastEventId = lastEventId;
  }

  /** feed parses a chunk of text. */
  feed(chunk: string): void {
    if (!this.started) {
      if (chunk.length === 0) return;
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let text = chunk;
    if (this.sawCR) {
      this.sawCR = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    this.buf += text;
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buf.slice(start, i));
      if (c === 13) {
        if (i + 1 < this.buf.length) {
          if (this.buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.sawCR = true;
        }
      }
      start = i + 1;
    }
    this.buf = this.buf.slice(start);
  }

  /** end discards an unterminated last frame, as the spec says. */
  end(): void {
    this.buf = '';
    this.data = [];
    this.eventType = '';
    this.frameHasId = false;
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastEventId = value;
          this.frameHasId = true;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.handlers.onRetry?.(parseInt(value, 10));
        break;
      default:
        break;
    }
  }

  private dispatch(): void {
    const hasData = this.data.length > 0;
    const msg: SSEMessage = {
      event: this.eventType || 'message',
      data: this.data.join('\n'),
      lastEventId: this.lastEventId,
      hasId: this.frameHasId,
    };
    this.data = [];
    this.eventType = '';
    this.frameHasId = false;
    if (hasData) this.handlers.onMessage(msg);
  }
}

// readSSE reads a response body to its end, feeding the parser. It resolves
// when the stream ends, or as soon as stop is aborted (from a handler, say:
// the body is then canceled), and rejects if reading fails.
export async function readSSE(body: ReadableStream<Uint8Array>, parser: SSEParser, stop?: AbortSignal): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  const cancel = () => {
    reader.cancel().catch(() => {});
  };
  stop?.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      if (stop?.aborted) return;
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    if (stop?.aborted) return;
    parser.feed(decoder.decode());
    parser.end();
  } finally {
    stop?.removeEventListener('abort', cancel);
    if (stop?.aborted) cancel();
    try {
      reader.releaseLock();
    } catch {
      // the lock is gone with a canceled stream
    }
  }
}
