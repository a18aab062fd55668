/**
 * Just enough of ONNX's protobuf encoding to build a small float32 graph in memory (nodes with
 * int attributes, inputs and outputs with symbolic shapes): the fast path's products are one-node
 * graphs, so a protobuf library would be all weight and no use.
 */

type Field = [field: number, kind: "int" | "str" | "msg", value: number | string | Uint8Array];

function varint(value: number, out: number[]): void {
  let n = BigInt(value);
  if (n < 0n) n += 1n << 64n;
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
}

function message(fields: readonly Field[]): Uint8Array {
  const out: number[] = [];
  for (const [field, kind, value] of fields) {
    if (kind === "int") {
      varint(field << 3, out);
      varint(value as number, out);
      continue;
    }
    const bytes = kind === "str" ? new TextEncoder().encode(value as string) : (value as Uint8Array);
    varint((field << 3) | 2, out);
    varint(bytes.length, out);
    for (const b of bytes) out.push(b);
  }
  return Uint8Array.from(out);
}

/** A float32 tensor input or output; a string dimension is symbolic. */
function valueInfo(name: string, shape: readonly (number | string)[]): Uint8Array {
  const dims = shape.map((d): Field => [1, "msg", message([typeof d === "number" ? [1, "int", d] : [2, "str", d]])]);
  const tensorType = message([
    [1, "int", 1],
    [2, "msg", message(dims)],
  ]);
  return message([
    [1, "str", name],
    [2, "msg", message([[1, "msg", tensorType]])],
  ]);
}

/** One node of a graph: its op, input and output names, and integer-list or integer attributes. */
export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  ints?: Record<string, number>;
  intLists?: Record<string, number[]>;
}

function nodeProto(n: OnnxNode): Uint8Array {
  const attrs: Field[] = [
    ...Object.entries(n.ints ?? {}).map(
      ([name, v]): Field => [
        5,
        "msg",
        message([
          [1, "str", name],
          [3, "int", v],
          [20, "int", 2],
        ]),
      ],
    ),
    ...Object.entries(n.intLists ?? {}).map(
      ([name, vs]): Field => [5, "msg", message([[1, "str", name], ...vs.map((v): Field => [8, "int", v]), [20, "int", 7]])],
    ),
  ];
  return message([...n.inputs.map((i): Field => [1, "str", i]), ...n.outputs.map((o): Field => [2, "str", o]), [4, "str", n.op], ...attrs]);
}

/** A serialized ONNX model (IR 8, default opset 17) of `nodes`, float32 inputs and outputs of the given shapes. */
export function onnxModel(
  nodes: readonly OnnxNode[],
  inputs: Record<string, readonly (number | string)[]>,
  outputs: Record<string, readonly (number | string)[]>,
): Uint8Array {
  const graph = message([
    ...nodes.map((n): Field => [1, "msg", nodeProto(n)]),
    [2, "str", "g"],
    ...Object.entries(inputs).map(([name, shape]): Field => [11, "msg", valueInfo(name, shape)]),
    ...Object.entries(outputs).map(([name, shape]): Field => [12, "msg", valueInfo(name, shape)]),
  ]);
  return message([
    [1, "int", 8],
    [2, "str", "frontier-signal"],
    [
      8,
      "msg",
      message([
        [1, "str", ""],
        [2, "int", 17],
      ]),
    ],
    [7, "msg", graph],
  ]);
}
