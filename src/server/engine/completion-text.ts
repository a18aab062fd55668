/**
 * Turns a completion's bytes into text incrementally: deltas are valid UTF-8 text (a multi-byte
 * character is held until complete), and text that could be the start of a stop string is held
 * back until it is known not to be, so a stop string never reaches the stream.
 */
export class CompletionText {
  private readonly decoder = new TextDecoder();
  private full = "";
  private emitted = 0;
  /** Final text once a stop string was found or the completion ended. */
  text: string | undefined;

  constructor(private readonly stops: readonly string[]) {}

  /**
   * The length (UTF-16 units) of the text so far, held-back text included and a character still
   * incomplete excluded: where the next token's text starts (a token that completes a character
   * starts where that character does).
   */
  get length(): number {
    return this.full.length;
  }

  /** Adds one byte; returns the new safe delta and whether a stop string was hit. */
  push(byte: number): { delta: string; stopped: boolean } {
    this.full += this.decoder.decode(Uint8Array.of(byte), { stream: true });
    return this.advance(false);
  }

  /** Adds decoded text (a checkpoint tokenizer's delta, whole characters only). */
  pushText(text: string): { delta: string; stopped: boolean } {
    this.full += text;
    return this.advance(false);
  }

  /** Ends the completion (EOS or length): flushes held bytes/text. */
  finish(): { delta: string; stopped: boolean } {
    this.full += this.decoder.decode();
    return this.advance(true);
  }

  private advance(final: boolean): { delta: string; stopped: boolean } {
    let cut = -1;
    for (const s of this.stops) {
      if (s.length === 0) continue;
      const at = this.full.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.text = this.full.slice(0, cut);
      return { delta: this.take(cut), stopped: true };
    }
    if (final) {
      this.text = this.full;
      return { delta: this.take(this.full.length), stopped: false };
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let l = Math.min(s.length - 1, this.full.length); l > hold; l--) {
        if (this.full.endsWith(s.slice(0, l))) {
          hold = l;
          break;
        }
      }
    }
    return { delta: this.take(this.full.length - hold), stopped: false };
  }

  private take(end: number): string {
    if (end <= this.emitted) return "";
    const delta = this.full.slice(this.emitted, end);
    this.emitted = end;
    return delta;
  }
}
