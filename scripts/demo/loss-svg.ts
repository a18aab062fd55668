/** A loss curve as a self-contained SVG: the demo's picture of the model learning. */
export function lossCurveSvg(losses: number[], options: { title: string; marks?: Array<{ step: number; label: string }> }): string {
  const width = 640;
  const height = 360;
  const pad = { left: 56, right: 16, top: 36, bottom: 40 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const maxLoss = Math.max(...losses, 1e-9);
  const x = (i: number) => pad.left + (losses.length <= 1 ? 0 : (i / (losses.length - 1)) * w);
  const y = (loss: number) => pad.top + h - (loss / maxLoss) * h;
  const points = losses.map((loss, i) => `${x(i).toFixed(1)},${y(loss).toFixed(1)}`).join(" ");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const value = maxLoss * f;
    return (
      `<line x1="${pad.left}" x2="${pad.left + w}" y1="${y(value)}" y2="${y(value)}" stroke="#eee"/>` +
      `<text x="${pad.left - 6}" y="${y(value) + 4}" text-anchor="end">${value.toFixed(2)}</text>`
    );
  });
  const marks = (options.marks ?? []).map(({ step, label }) => {
    const at = x(Math.max(0, step - 1));
    return (
      `<line x1="${at}" x2="${at}" y1="${pad.top}" y2="${pad.top + h}" stroke="#c60" stroke-dasharray="4 3"/>` +
      `<text x="${at + 4}" y="${pad.top + 12}" fill="#c60">${escapeXml(label)}</text>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`,
    ...ticks,
    ...marks,
    `<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${points}"/>`,
    `<text x="${pad.left + w / 2}" y="${height - 8}" text-anchor="middle">optimizer step (1–${losses.length})</text>`,
    `<text x="14" y="${pad.top + h / 2}" text-anchor="middle" transform="rotate(-90 14 ${pad.top + h / 2})">loss (nats/token)</text>`,
    `</svg>`,
    "",
  ].join("\n");
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
