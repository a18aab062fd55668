/**
 * WebAssembly opcodes the engine's kernels use: core ones, and SIMD ones (the byte after the
 * 0xfd prefix, as `Body.simd` and `Body.simdMem` take them), plus i8x16.shuffle lane patterns.
 */

// core
export const I32_ADD = 0x6a;
export const I32_MUL = 0x6c;
export const I32_LOAD = 0x28;
export const I32_STORE = 0x36;
export const F32_LOAD = 0x2a;
export const F32_MAX = 0x97;
export const F64_LOAD = 0x2b;
export const I32_CTZ = 0x68;
export const F64_PROMOTE_F32 = 0xbb;
export const F64_SUB = 0xa1;
export const F64_MUL = 0xa2;
export const F64_DIV = 0xa3;
export const F64_SQRT = 0x9f;
export const F64_STORE = 0x39;
export const F64_ADD = 0xa0;
export const I32_LT_S = 0x48;
export const F32_ADD = 0x92;
export const I32_AND = 0x71;
export const F32_STORE = 0x38;
export const F32_DIV = 0x95;
export const F32_SQRT = 0x91;
/** memory.copy (0xfc 10, memory 0 to memory 0), taking dest, src and length. */
export const MEMORY_COPY = [0xfc, 0x0a, 0x00, 0x00];

// SIMD (after 0xfd)
export const I32X4_SPLAT = 0x11;
export const I32X4_ADD = 0xae;
export const I32X4_EQ = 0x37;
export const I32X4_GE_S = 0x3f;
export const I32X4_BITMASK = 0xa4;
export const F32X4_EQ = 0x41;
export const F32X4_PMAX = 0xeb;
export const V_OR = 0x50;
export const V_ANDNOT = 0x4f;
export const V_BITSELECT = 0x52;
export const F32X4_ADD = 0xe4;
export const V_LOAD = 0x00;
export const V_LOAD64_ZERO = 0x5d;
export const V_STORE = 0x0b;
export const V_STORE64_LANE = 0x5b;
export const I8X16_SHUFFLE = 0x0d;
export const F64X2_SPLAT = 0x14;
export const F64X2_ADD = 0xf0;
export const F64X2_SUB = 0xf1;
export const F64X2_MUL = 0xf2;
export const F64X2_DIV = 0xf3;
export const F64X2_PROMOTE_LOW = 0x5f;
export const F32X4_DEMOTE_ZERO = 0x5e;
export const F32X4_MAX = 0xe9;
export const F32X4_SPLAT = 0x13;
export const F32X4_EXTRACT = 0x1f;
export const F32X4_LT = 0x43;
export const F32X4_SUB = 0xe5;
export const F32X4_MUL = 0xe6;
export const F32X4_DIV = 0xe7;
export const F32X4_PMIN = 0xea;
export const I32X4_SHL = 0xab;

// i8x16.shuffle lanes
/** i8x16.shuffle lanes moving floats 2 and 3 of an f32x4 to 0 and 1. */
export const HIGH_PAIR = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** i8x16.shuffle lanes joining the low two floats of two f32x4s, and the high two. */
export const LOW_PAIRS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
export const HIGH_PAIRS = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
/** i8x16.shuffle lanes joining floats 0 and 2 of two f32x4s, and 1 and 3. */
export const EVEN_LANES = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27];
export const ODD_LANES = [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31];
