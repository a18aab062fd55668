// Placeholder until the local reference server lands: says what `npm start` will do.
console.log(
  "npm start will start the local reference server in-process and walk the guide with the SDK:\n" +
    "train a small model with LoRA, checkpoint it early and late, sample both, stream an answer,\n" +
    "and write the loss curve as an SVG.",
);
