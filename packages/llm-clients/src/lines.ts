/** Thrown when a line grows past the limit; the caller turns it into backend_malformed_response. */
export class LineTooLongError extends Error {
  constructor(
    readonly limit: number,
    what = 'line',
  ) {
    super(`${what} longer than ${limit} bytes`);
    this.name = 'LineTooLongError';
  }
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Decodes a byte stream with one streaming TextDecoder, so a multi-byte character cut across
 * network chunks comes out whole. Line length is counted in raw bytes before decoding (LF/CR
 * never occur inside a UTF-8 sequence); that also caps what a backend that never sends a
 * newline can make us buffer.
 */
export class Utf8TextStream {
  private readonly decoder = new TextDecoder('utf-8');
  private run = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** Decoded text of this chunk, line terminators kept (for eventsource-parser). */
  push(chunk: Uint8Array): string {
    let run = this.run;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (b === LF || b === CR) run = 0;
      else if (++run > this.maxLineBytes) throw new LineTooLongError(this.maxLineBytes);
    }
    this.run = run;
    return this.decoder.decode(chunk, { stream: true });
  }

  end(): string {
    return this.decoder.decode();
  }
}

/** Newline-delimited text lines (NDJSON) on top of Utf8TextStream. */
export class Utf8LineSplitter {
  private readonly text: Utf8TextStream;
  private pending = '';

  constructor(maxLineBytes: number) {
    this.text = new Utf8TextStream(maxLineBytes);
  }

  /** Complete lines in this chunk, without terminators (a CR before the LF is dropped too). */
  push(chunk: Uint8Array): string[] {
    const decoded = this.text.push(chunk);
    // Most chunks of a long line carry no newline; skip re-splitting the buffer for them.
    if (!decoded.includes('\n')) {
      this.pending += decoded;
      return [];
    }
    const parts = (this.pending + decoded).split('\n');
    this.pending = parts.pop() ?? '';
    return parts.map(stripCr);
  }

  /** The unterminated last line, if any, once the stream has ended. */
  end(): string[] {
    const rest = stripCr(this.pending + this.text.end());
    this.pending = '';
    return rest === '' ? [] : [rest];
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
