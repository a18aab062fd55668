/**
 * A Hugging Face checkpoint folder the server cannot use. Its message is one line naming the
 * folder, the file and the problem, because `serve` prints it as it is and stops.
 */
export class CheckpointError extends Error {
  override readonly name = "CheckpointError";
}
