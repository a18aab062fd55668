/**
 * A minimal WebAssembly assembler: enough of the binary format (numeric and SIMD instructions,
 * structured control flow, one imported memory, imported and local functions) to write the
 * decoder's kernels in TypeScript, without a toolchain. The kernels are assembled at start-up,
 * so the module is always in step with this source.
 */

/** Value types. */
export const I32 = 0x7f;
const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof I64 | typeof F32 | typeof F64 | typeof V128;

/** Empty block type (a block that leaves nothing on the stack). */
const VOID = 0x40;

function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}

function sleb(n: bigint, out: number[]): void {
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

function bytesOf(s: string): number[] {
  return [...new TextEncoder().encode(s)];
}

function vec(items: number[][]): number[] {
  const out: number[] = [];
  uleb(items.length, out);
  for (const it of items) out.push(...it);
  return out;
}

/** A function body under construction: each method appends one instruction. */
export class Body {
  readonly code: number[] = [];
  private readonly locals: ValType[] = [];
  /** Code run first: sets the locals holding hoisted v128 constants. */
  private readonly prologue: number[] = [];
  private readonly constants = new Map<string, number>();

  constructor(readonly params: readonly ValType[]) {}

  /** Declares a local; @returns its index. */
  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  /** A SIMD instruction (0xfd prefix), with immediate bytes after the opcode. */
  simd(opcode: number, ...imm: number[]): this {
    this.code.push(0xfd);
    uleb(opcode, this.code);
    this.code.push(...imm);
    return this;
  }

  /** A memory instruction with its `align` (log2 bytes) and byte `offset`. */
  mem(opcode: number, align: number, offset = 0): this {
    this.code.push(opcode);
    uleb(align, this.code);
    uleb(offset, this.code);
    return this;
  }

  simdMem(opcode: number, align: number, offset = 0, ...lane: number[]): this {
    this.simd(opcode);
    uleb(align, this.code);
    uleb(offset, this.code);
    this.code.push(...lane);
    return this;
  }

  get(i: number): this {
    return this.#local(0x20, i);
  }

  set(i: number): this {
    return this.#local(0x21, i);
  }

  tee(i: number): this {
    return this.#local(0x22, i);
  }

  #local(opcode: number, i: number): this {
    this.code.push(opcode);
    uleb(i, this.code);
    return this;
  }

  i32(n: number): this {
    this.code.push(0x41);
    sleb(BigInt(n | 0), this.code);
    return this;
  }

  f64(x: number): this {
    this.code.push(0x44, ...new Uint8Array(new Float64Array([x]).buffer));
    return this;
  }

  /** A v128 constant of four float32 lanes. */
  f32x4(a: number, b = a, c = a, d = a): this {
    return this.v128([...new Uint8Array(new Float32Array([a, b, c, d]).buffer)]);
  }

  /** A v128 constant of four int32 lanes. */
  i32x4(a: number, b = a, c = a, d = a): this {
    return this.v128([...new Uint8Array(new Int32Array([a, b, c, d]).buffer)]);
  }

  f32(x: number): this {
    this.code.push(0x43, ...new Uint8Array(new Float32Array([x]).buffer));
    return this;
  }

  /**
   * A v128 constant, read from a local set once at the function's start: V8 builds a v128.const
   * from general-purpose registers each time it is used, which costs more than reading a local.
   */
  private v128(bytes: number[]): this {
    if (bytes.every((x) => x === 0)) return this.simd(0x0c, ...bytes);
    const key = bytes.join(",");
    let local = this.constants.get(key);
    if (local === undefined) {
      local = this.local(0x7b);
      this.constants.set(key, local);
      this.prologue.push(0xfd, 0x0c, ...bytes, 0x21);
      uleb(local, this.prologue);
    }
    return this.get(local);
  }

  call(fn: number): this {
    this.code.push(0x10);
    uleb(fn, this.code);
    return this;
  }

  /** `block ... end` around `inner` (`br 0` inside leaves it). */
  block(inner: () => void): this {
    this.code.push(0x02, VOID);
    inner();
    this.code.push(0x0b);
    return this;
  }

  /** `loop ... end` around `inner` (`br 0` inside repeats it). */
  loop(inner: () => void): this {
    this.code.push(0x03, VOID);
    inner();
    this.code.push(0x0b);
    return this;
  }

  /** `if ... else ... end` on the i32 on the stack. */
  if(then: () => void, otherwise?: () => void): this {
    this.code.push(0x04, VOID);
    then();
    if (otherwise) {
      this.code.push(0x05);
      otherwise();
    }
    this.code.push(0x0b);
    return this;
  }

  br(depth: number): this {
    return this.op(0x0c, depth);
  }

  brIf(depth: number): this {
    return this.op(0x0d, depth);
  }

  /**
   * `for (i = from; i < to; i += step) inner()`, `from`/`to`/`step` pushing i32s (evaluated once
   * for `from`, every iteration for `to`). Does nothing when `from >= to`.
   */
  for(i: number, from: () => void, to: () => void, step: number, inner: () => void): this {
    from();
    this.set(i);
    return this.block(() => {
      this.get(i);
      to();
      this.op(0x4e); // i32.ge_s
      this.brIf(0);
      this.loop(() => {
        inner();
        this.get(i).i32(step).op(0x6a).tee(i); // i32.add
        to();
        this.op(0x48); // i32.lt_s
        this.brIf(0);
      });
    });
  }

  /** The body's bytes (locals declaration, code, `end`). */
  encode(): number[] {
    const groups: number[][] = this.locals.map((t) => [1, t]);
    const out = [...vec(groups), ...this.prologue, ...this.code, 0x0b];
    const sized: number[] = [];
    uleb(out.length, sized);
    return [...sized, ...out];
  }
}

/** A function of the module being assembled. */
export interface FunctionDef {
  name: string;
  params: ValType[];
  results: ValType[];
  body: Body;
  export?: boolean;
}

/** An imported function (`module.name`). */
export interface ImportDef {
  module: string;
  name: string;
  params: ValType[];
  results: ValType[];
}

/**
 * Assembles a module importing `env.memory` (one memory, at least `minPages` pages), the
 * `imports` (function indices 0..imports.length-1) and defining `functions` (indices after them,
 * in order). Exported functions keep their names.
 */
export function assemble(imports: ImportDef[], functions: FunctionDef[], minPages = 1): Uint8Array<ArrayBuffer> {
  const types: string[] = [];
  const typeIndex = (params: ValType[], results: ValType[]) => {
    const key = `${params.join(",")}:${results.join(",")}`;
    let i = types.indexOf(key);
    if (i < 0) i = types.push(key) - 1;
    return i;
  };
  const sigs = [...imports, ...functions].map((f) => typeIndex(f.params, f.results));
  const typeSec = vec(
    types.map((k) => {
      const [p, r] = k.split(":").map((s) => (s ? s.split(",").map(Number) : []));
      return [0x60, ...vec(p!.map((t) => [t])), ...vec(r!.map((t) => [t]))];
    }),
  );
  const str = (s: string) => vec(bytesOf(s).map((b) => [b]));
  const limits: number[] = [0x00];
  uleb(minPages, limits);
  const importSec = vec([
    [...str("env"), ...str("memory"), 0x02, ...limits],
    ...imports.map((im, i) => {
      const idx: number[] = [];
      uleb(sigs[i]!, idx);
      return [...str(im.module), ...str(im.name), 0x00, ...idx];
    }),
  ]);
  const funcSec = vec(
    functions.map((_, i) => {
      const idx: number[] = [];
      uleb(sigs[imports.length + i]!, idx);
      return idx;
    }),
  );
  const exportSec = vec(
    functions.flatMap((f, i) => {
      if (!f.export) return [];
      const idx: number[] = [];
      uleb(imports.length + i, idx);
      return [[...str(f.name), 0x00, ...idx]];
    }),
  );
  const codeSec = vec(functions.map((f) => f.body.encode()));
  const section = (id: number, content: number[]) => {
    const size: number[] = [];
    uleb(content.length, size);
    return [id, ...size, ...content];
  };
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, typeSec),
    ...section(2, importSec),
    ...section(3, funcSec),
    ...section(7, exportSec),
    ...section(10, codeSec),
  ]);
}
