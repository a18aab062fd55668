/** The client-side record of a TrainingClient's calls, as `getMetrics()` returns it. */
export interface TrainingMetrics {
  /**
   * The run's step as the server reported it with the last answer (every training answer
   * carries it); before the first answer, the step of the SignalRun the client was made from,
   * or `null` when the client has not heard from the server yet.
   */
  current_step: number | null;
  /** Mean of `loss_history`; `null` before the first loss. */
  avg_loss: number | null;
  /** The last recorded loss; `null` before the first. */
  last_loss: number | null;
  /** Loss of every forwardBackward / trainBatch call, in call order. */
  loss_history: number[];
  /** Gradient norm of every forwardBackward / trainBatch call, in call order. */
  grad_norm_history: number[];
  /** Weighted target tokens of every recorded call, summed. */
  tokens_processed: number;
}

/** Accumulates the history behind `getMetrics()`. */
export class MetricsRecorder {
  #step: number | null;
  readonly #losses: number[] = [];
  readonly #gradNorms: number[] = [];
  #tokens = 0;
  #lossSum = 0;

  constructor(initialStep?: number) {
    this.#step = initialStep ?? null;
  }

  recordLoss(loss: number, gradNorm: number, tokens: number): void {
    this.#losses.push(loss);
    this.#gradNorms.push(gradNorm);
    this.#tokens += tokens;
    this.#lossSum += loss;
  }

  recordStep(step: number): void {
    this.#step = step;
  }

  snapshot(): TrainingMetrics {
    const n = this.#losses.length;
    return {
      current_step: this.#step,
      avg_loss: n === 0 ? null : this.#lossSum / n,
      last_loss: n === 0 ? null : (this.#losses[n - 1] ?? null),
      loss_history: [...this.#losses],
      grad_norm_history: [...this.#gradNorms],
      tokens_processed: this.#tokens,
    };
  }
}
