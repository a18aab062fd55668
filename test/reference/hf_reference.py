#!/usr/bin/env python3
"""PyTorch reference for Hugging Face Llama-family checkpoints and PEFT LoRA adapters.

The forward pass follows transformers' modeling code for LlamaForCausalLM, MistralForCausalLM,
Qwen2ForCausalLM and Qwen3ForCausalLM (eager attention), and the adapter follows PEFT's
`lora.Linear`. It needs only Debian's python3-torch (1.13): safetensors files are read here with
json + torch.frombuffer, and the transformers/PEFT code paths it mirrors are named next to each
function.

Everything is computed in float32: weights stored as F16/BF16 are upcast when read, as
transformers does when a checkpoint is loaded with torch_dtype=torch.float32.

Protocol: one JSON request on stdin, one JSON answer on stdout (see README.md next to this file).
On a bad request or checkpoint it prints one line to stderr and exits with status 2. With
`--serve` it answers one request per line until stdin closes, so torch is imported once.
"""

import json
import math
import os
import re
import sys
import traceback

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the machine
    sys.stderr.write("PyTorch reference needs Debian's python3-torch: apt-get install python3-torch\n")
    sys.exit(3)


class ReferenceError(Exception):
    """A bad request, checkpoint or adapter; reported as one line."""


# ---------------------------------------------------------------------------------------------
# safetensors


SAFETENSORS_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (None, 2)}


def read_safetensors(path):
    """Reads a .safetensors file into {name: float32 tensor}, plus {name: stored dtype}.

    Layout: u64 little-endian header length N, N bytes of JSON header, then the raw data; each
    tensor's `data_offsets` are relative to the end of the header.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ReferenceError(f"{path}: too short to be a safetensors file ({len(raw)} bytes)")
    n = int.from_bytes(raw[:8], "little")
    if 8 + n > len(raw):
        raise ReferenceError(f"{path}: header length {n} runs past the end of the file ({len(raw)} bytes)")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = bytearray(raw[8 + n:])
    tensors, dtypes = {}, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info["dtype"]
        if dtype not in SAFETENSORS_DTYPES:
            raise ReferenceError(f"{path}: {name} has dtype {dtype}; supported: F32, F16, BF16")
        shape = list(info["shape"])
        begin, end = info["data_offsets"]
        torch_dtype, size = SAFETENSORS_DTYPES[dtype]
        count = math.prod(shape)
        if end - begin != count * size:
            raise ReferenceError(f"{path}: {name} has {end - begin} bytes for shape {shape} {dtype}")
        if end > len(data):
            raise ReferenceError(f"{path}: {name} ends at byte {end} of {len(data)} data bytes (truncated?)")
        if count == 0:
            t = torch.zeros(shape, dtype=torch.float32)
        elif dtype == "BF16":
            # bfloat16 is the top half of a float32: widen the bits and shift them into place.
            bits = torch.frombuffer(data, dtype=torch.int16, offset=begin, count=count)
            t = ((bits.to(torch.int32) & 0xFFFF) << 16).view(torch.float32)
        else:
            t = torch.frombuffer(data, dtype=torch_dtype, offset=begin, count=count).to(torch.float32)
        tensors[name] = t.reshape(shape).clone()
        dtypes[name] = dtype
    return tensors, dtypes


def load_checkpoint_tensors(directory):
    """All tensors of a checkpoint folder: model.safetensors, or the shards its index names."""
    index_path = os.path.join(directory, "model.safetensors.index.json")
    single = os.path.join(directory, "model.safetensors")
    tensors, dtypes = {}, {}
    if os.path.exists(index_path):
        with open(index_path) as f:
            weight_map = json.load(f)["weight_map"]
        for shard in sorted(set(weight_map.values())):
            t, d = read_safetensors(os.path.join(directory, shard))
            for name in t:
                if weight_map.get(name) != shard:
                    raise ReferenceError(f"{shard}: holds {name}, which the index places in {weight_map.get(name)}")
            tensors.update(t)
            dtypes.update(d)
        missing = sorted(set(weight_map) - set(tensors))
        if missing:
            raise ReferenceError(f"{index_path}: names {missing[0]} but no shard holds it")
    elif os.path.exists(single):
        tensors, dtypes = read_safetensors(single)
    else:
        raise ReferenceError(f"{directory}: no model.safetensors or model.safetensors.index.json")
    return tensors, dtypes


# ---------------------------------------------------------------------------------------------
# config


# transformers' class defaults for the fields the forward pass reads.
FAMILIES = {
    "LlamaForCausalLM": {"model_type": "llama", "qkv_bias": "attention_bias", "o_bias": "attention_bias", "qk_norm": False},
    "MistralForCausalLM": {"model_type": "mistral", "qkv_bias": False, "o_bias": False, "qk_norm": False},
    "Qwen2ForCausalLM": {"model_type": "qwen2", "qkv_bias": True, "o_bias": False, "qk_norm": False},
    "Qwen3ForCausalLM": {"model_type": "qwen3", "qkv_bias": "attention_bias", "o_bias": "attention_bias", "qk_norm": True},
}


class Config:
    def __init__(self, raw):
        archs = raw.get("architectures") or []
        self.architecture = archs[0] if archs else None
        if self.architecture not in FAMILIES:
            raise ReferenceError(f"config.json: architecture {self.architecture!r} is not supported; supported: {', '.join(FAMILIES)}")
        family = FAMILIES[self.architecture]
        if raw.get("model_type") not in (None, family["model_type"]):
            raise ReferenceError(f"config.json: model_type {raw.get('model_type')!r} does not match {self.architecture}")
        if raw.get("hidden_act", "silu") != "silu":
            raise ReferenceError(f"config.json: hidden_act {raw.get('hidden_act')!r} is not supported")
        self.hidden = raw["hidden_size"]
        self.layers = raw["num_hidden_layers"]
        self.heads = raw["num_attention_heads"]
        self.kv_heads = raw.get("num_key_value_heads") or self.heads
        # Llama/Mistral/Qwen2/Qwen3 attention: getattr(config, "head_dim", hidden // heads).
        self.head_dim = raw.get("head_dim") or self.hidden // self.heads
        self.intermediate = raw["intermediate_size"]
        self.vocab = raw["vocab_size"]
        self.eps = float(raw.get("rms_norm_eps", 1e-6))
        self.rope_theta = float(raw.get("rope_theta", 10000.0))
        self.rope_scaling = raw.get("rope_scaling")
        self.tie = bool(raw.get("tie_word_embeddings", False))
        flag = lambda v: raw.get(v, False) is True if isinstance(v, str) else v
        self.qkv_bias = flag(family["qkv_bias"])
        self.o_bias = flag(family["o_bias"])
        self.mlp_bias = raw.get("mlp_bias", False) is True if self.architecture == "LlamaForCausalLM" else False
        self.qk_norm = family["qk_norm"]
        self.sliding_window = None
        if self.architecture == "MistralForCausalLM":
            self.sliding_window = raw.get("sliding_window")
        elif raw.get("use_sliding_window"):
            raise ReferenceError("config.json: use_sliding_window is not supported by the reference")
        if self.heads % self.kv_heads != 0:
            raise ReferenceError("config.json: num_attention_heads is not a multiple of num_key_value_heads")


# ---------------------------------------------------------------------------------------------
# RoPE (transformers.modeling_rope_utils and LlamaRotaryEmbedding)


def default_inv_freq(head_dim, base):
    """_compute_default_rope_parameters: 1 / base ** (arange(0, dim, 2) / dim), in float32."""
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(dtype=torch.float) / head_dim))


def llama3_inv_freq(inv_freq, rope_scaling):
    """_compute_llama3_parameters, line for line."""
    factor = rope_scaling["factor"]
    low_freq_factor = rope_scaling["low_freq_factor"]
    high_freq_factor = rope_scaling["high_freq_factor"]
    old_context_len = rope_scaling["original_max_position_embeddings"]

    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor

    wavelen = 2 * math.pi / inv_freq
    # wavelen < high_freq_wavelen: do nothing
    # wavelen > low_freq_wavelen: divide by factor
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    # otherwise: interpolate between the two, using a smooth factor
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    inv_freq_llama = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    return inv_freq_llama


def rope_inv_freq(config):
    inv_freq = default_inv_freq(config.head_dim, config.rope_theta)
    scaling = config.rope_scaling
    if scaling is None:
        return inv_freq
    rope_type = scaling.get("rope_type", scaling.get("type"))
    if rope_type == "default":
        return inv_freq
    if rope_type == "llama3":
        return llama3_inv_freq(inv_freq, scaling)
    raise ReferenceError(f"config.json: rope_scaling type {rope_type!r} is not supported (default, llama3)")


def rope_cos_sin(inv_freq, positions):
    """LlamaRotaryEmbedding.forward: freqs = inv_freq @ positions in float32, emb = cat(freqs, freqs)."""
    inv_freq_expanded = inv_freq[None, :, None].float()
    position_ids_expanded = positions[None, None, :].float()
    freqs = (inv_freq_expanded @ position_ids_expanded).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    attention_scaling = 1.0  # default and llama3 rope both return attention_factor 1.0
    return emb.cos() * attention_scaling, emb.sin() * attention_scaling  # [1, T, head_dim]


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin):
    cos = cos.unsqueeze(1)  # unsqueeze_dim=1: [1, 1, T, head_dim] against [1, heads, T, head_dim]
    sin = sin.unsqueeze(1)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


# ---------------------------------------------------------------------------------------------
# layers


def rms_norm(hidden_states, weight, eps):
    """LlamaRMSNorm / Qwen3RMSNorm: the variance in float32, then weight * normalized."""
    input_dtype = hidden_states.dtype
    hidden_states = hidden_states.to(torch.float32)
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    hidden_states = hidden_states * torch.rsqrt(variance + eps)
    return weight * hidden_states.to(input_dtype)


def repeat_kv(hidden_states, n_rep):
    """[batch, kv_heads, T, d] -> [batch, kv_heads * n_rep, T, d], each kv head n_rep times in a row."""
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


def causal_mask(length, dtype):
    """The additive mask transformers builds for eager attention: 0 where allowed, finfo.min elsewhere."""
    mask = torch.full((length, length), torch.finfo(dtype).min, dtype=dtype)
    allowed = torch.ones(length, length, dtype=torch.bool).tril()
    return mask.masked_fill(allowed, 0.0)[None, None, :, :]


def eager_attention(query, key, value, n_rep, scaling, mask):
    """eager_attention_forward: repeat_kv, scaled scores + mask, softmax in float32, weighted sum."""
    key_states = repeat_kv(key, n_rep)
    value_states = repeat_kv(value, n_rep)
    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    attn_weights = attn_weights + mask
    attn_weights = F.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_output = torch.matmul(attn_weights, value_states)
    return attn_output.transpose(1, 2).contiguous()  # [batch, T, heads, d]


# ---------------------------------------------------------------------------------------------
# PEFT LoRA


LORA_MODULES = {
    "q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
    "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp",
}
LORA_NAME = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


class Lora:
    """A PEFT LoRA adapter: {(layer, module): (A [r, in], B [out, r])} and scaling lora_alpha / r."""

    def __init__(self, safetensors_path, config_path, model_config, module_shapes):
        with open(config_path) as f:
            cfg = json.load(f)
        if cfg.get("peft_type", "LORA") != "LORA":
            raise ReferenceError(f"{config_path}: peft_type {cfg.get('peft_type')!r} is not LORA")
        for key, ok in (("use_dora", False), ("fan_in_fan_out", False), ("bias", "none")):
            if cfg.get(key, ok) != ok:
                raise ReferenceError(f"{config_path}: {key}={cfg.get(key)!r} is not supported by the reference")
        for key in ("rank_pattern", "alpha_pattern"):
            if cfg.get(key):
                raise ReferenceError(f"{config_path}: {key} is not supported by the reference")
        if cfg.get("layers_to_transform") is not None or cfg.get("modules_to_save"):
            raise ReferenceError(f"{config_path}: layers_to_transform/modules_to_save are not supported by the reference")
        self.r = int(cfg["r"])
        self.alpha = float(cfg["lora_alpha"])
        # PEFT: scaling = lora_alpha / r (lora_alpha / sqrt(r) with use_rslora).
        self.scaling = self.alpha / math.sqrt(self.r) if cfg.get("use_rslora") else self.alpha / self.r
        targets = cfg["target_modules"]
        if isinstance(targets, str):
            # A string is a regex matched against the full module name (PEFT's check_target_module_exists).
            pattern = re.compile(targets)
            wanted = lambda full, short: pattern.fullmatch(full) is not None
        else:
            targets = set(targets)
            unknown = sorted(targets - set(LORA_MODULES))
            if unknown:
                raise ReferenceError(f"{config_path}: target module {unknown[0]!r} is not one of {', '.join(LORA_MODULES)}")
            wanted = lambda full, short: short in targets

        tensors, _ = read_safetensors(safetensors_path)
        found = {}
        for name, t in tensors.items():
            m = LORA_NAME.match(name)
            if not m or LORA_MODULES.get(m.group(3)) != m.group(2):
                raise ReferenceError(f"{safetensors_path}: {name} is not a PEFT LoRA tensor name this model has")
            layer, module, which = int(m.group(1)), m.group(3), m.group(4)
            if layer >= model_config.layers:
                raise ReferenceError(f"{safetensors_path}: {name} names layer {layer} of {model_config.layers}")
            found.setdefault((layer, module), {})[which] = t
        self.pairs = {}
        for layer in range(model_config.layers):
            for module, parent in LORA_MODULES.items():
                full = f"model.layers.{layer}.{parent}.{module}"
                targeted = wanted(full, module)
                got = found.pop((layer, module), None)
                if not targeted:
                    if got is not None:
                        raise ReferenceError(f"{safetensors_path}: has weights for {full}, which target_modules does not name")
                    continue
                if got is None or "A" not in got or "B" not in got:
                    raise ReferenceError(f"{safetensors_path}: lora_A/lora_B missing for targeted {full}")
                out_f, in_f = module_shapes[module]
                a, b = got["A"], got["B"]
                if list(a.shape) != [self.r, in_f] or list(b.shape) != [out_f, self.r]:
                    raise ReferenceError(
                        f"{safetensors_path}: {full} lora_A {list(a.shape)} / lora_B {list(b.shape)}, expected [{self.r}, {in_f}] / [{out_f}, {self.r}]"
                    )
                self.pairs[(layer, module)] = (a.clone(), b.clone())
        if not self.pairs:
            raise ReferenceError(f"{safetensors_path}: no LoRA weights for any targeted module")

    def parameters(self):
        """Every A and B, in a fixed order (layer, module order, A then B)."""
        return [t for key in sorted(self.pairs, key=lambda k: (k[0], list(LORA_MODULES).index(k[1]))) for t in self.pairs[key]]


# ---------------------------------------------------------------------------------------------
# the model


class Model:
    def __init__(self, checkpoint_dir, adapter=None):
        with open(os.path.join(checkpoint_dir, "config.json")) as f:
            self.config = Config(json.load(f))
        c = self.config
        tensors, self.dtypes = load_checkpoint_tensors(checkpoint_dir)
        self.w = {}
        expected = self.expected_shapes()
        for name, shape in expected.items():
            if name not in tensors:
                raise ReferenceError(f"{checkpoint_dir}: missing tensor {name}")
            if list(tensors[name].shape) != shape:
                raise ReferenceError(f"{checkpoint_dir}: {name} has shape {list(tensors[name].shape)}, expected {shape}")
            self.w[name] = tensors[name]
        for name in tensors:
            if name in expected or name.endswith("rotary_emb.inv_freq"):
                continue
            if name == "lm_head.weight" and c.tie:
                continue  # transformers ties it to the embeddings and ignores the stored copy
            raise ReferenceError(f"{checkpoint_dir}: unexpected tensor {name}")
        self.lm_head = self.w["model.embed_tokens.weight"] if c.tie else self.w["lm_head.weight"]
        self.inv_freq = rope_inv_freq(c)
        self.lora = None
        if adapter is not None:
            self.lora = Lora(adapter["safetensors"], adapter["config"], c, self.module_shapes())

    def module_shapes(self):
        c = self.config
        q, kv = c.heads * c.head_dim, c.kv_heads * c.head_dim
        return {
            "q_proj": (q, c.hidden), "k_proj": (kv, c.hidden), "v_proj": (kv, c.hidden), "o_proj": (c.hidden, q),
            "gate_proj": (c.intermediate, c.hidden), "up_proj": (c.intermediate, c.hidden), "down_proj": (c.hidden, c.intermediate),
        }

    def expected_shapes(self):
        c = self.config
        shapes = {"model.embed_tokens.weight": [c.vocab, c.hidden], "model.norm.weight": [c.hidden]}
        if not c.tie:
            shapes["lm_head.weight"] = [c.vocab, c.hidden]
        bias = {"q_proj": c.qkv_bias, "k_proj": c.qkv_bias, "v_proj": c.qkv_bias, "o_proj": c.o_bias,
                "gate_proj": c.mlp_bias, "up_proj": c.mlp_bias, "down_proj": c.mlp_bias}
        for i in range(c.layers):
            p = f"model.layers.{i}"
            shapes[f"{p}.input_layernorm.weight"] = [c.hidden]
            shapes[f"{p}.post_attention_layernorm.weight"] = [c.hidden]
            for module, (out_f, in_f) in self.module_shapes().items():
                full = f"{p}.{LORA_MODULES[module]}.{module}"
                shapes[f"{full}.weight"] = [out_f, in_f]
                if bias[module]:
                    shapes[f"{full}.bias"] = [out_f]
            if c.qk_norm:
                shapes[f"{p}.self_attn.q_norm.weight"] = [c.head_dim]
                shapes[f"{p}.self_attn.k_norm.weight"] = [c.head_dim]
        return shapes

    def linear(self, layer, module, x):
        """The base projection, plus PEFT's `lora_B(lora_A(x)) * scaling` where the adapter has it."""
        full = f"model.layers.{layer}.{LORA_MODULES[module]}.{module}"
        result = F.linear(x, self.w[f"{full}.weight"], self.w.get(f"{full}.bias"))
        if self.lora is not None and (layer, module) in self.lora.pairs:
            a, b = self.lora.pairs[(layer, module)]
            result = result + F.linear(F.linear(x, a), b) * self.lora.scaling
        return result

    def attention(self, i, x, cos, sin, mask):
        c = self.config
        batch, length, _ = x.shape
        hidden_shape = (batch, length, -1, c.head_dim)
        q = self.linear(i, "q_proj", x).view(hidden_shape)
        k = self.linear(i, "k_proj", x).view(hidden_shape)
        if c.qk_norm:
            # Qwen3: RMSNorm over each head's head_dim, before the transpose and RoPE.
            q = rms_norm(q, self.w[f"model.layers.{i}.self_attn.q_norm.weight"], c.eps)
            k = rms_norm(k, self.w[f"model.layers.{i}.self_attn.k_norm.weight"], c.eps)
        q = q.transpose(1, 2)
        k = k.transpose(1, 2)
        v = self.linear(i, "v_proj", x).view(hidden_shape).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        out = eager_attention(q, k, v, c.heads // c.kv_heads, c.head_dim ** -0.5, mask)
        return self.linear(i, "o_proj", out.reshape(batch, length, -1))

    def mlp(self, i, x):
        return self.linear(i, "down_proj", F.silu(self.linear(i, "gate_proj", x)) * self.linear(i, "up_proj", x))

    def logits(self, tokens):
        """float32 logits [T, vocab] for one sequence (batch of one, no padding)."""
        c = self.config
        ids = torch.tensor(tokens, dtype=torch.long)
        if ids.dim() != 1 or len(tokens) == 0:
            raise ReferenceError("a sequence must be a non-empty list of token ids")
        if int(ids.min()) < 0 or int(ids.max()) >= c.vocab:
            raise ReferenceError(f"token id out of range [0, {c.vocab})")
        if c.sliding_window is not None and len(tokens) > c.sliding_window:
            raise ReferenceError("sequence longer than Mistral's sliding_window: not supported by the reference")
        h = F.embedding(ids, self.w["model.embed_tokens.weight"])[None]
        cos, sin = rope_cos_sin(self.inv_freq, torch.arange(len(tokens)))
        mask = causal_mask(len(tokens), h.dtype)
        for i in range(c.layers):
            p = f"model.layers.{i}"
            h = h + self.attention(i, rms_norm(h, self.w[f"{p}.input_layernorm.weight"], c.eps), cos, sin, mask)
            h = h + self.mlp(i, rms_norm(h, self.w[f"{p}.post_attention_layernorm.weight"], c.eps))
        h = rms_norm(h, self.w["model.norm.weight"], c.eps)
        return F.linear(h, self.lm_head)[0].float()


# ---------------------------------------------------------------------------------------------
# requests


def token_logprobs(model, tokens):
    """log_softmax over every LM-head row; entry t is log p(tokens[t] | tokens[<t]); entry 0 is None."""
    lsm = F.log_softmax(model.logits(tokens), dim=-1)
    picked = lsm[:-1].gather(1, torch.tensor(tokens[1:], dtype=torch.long)[:, None])[:, 0]
    return lsm, [None] + picked.tolist()


def weighted_loss(model, examples):
    total = torch.zeros((), dtype=torch.float32)
    weight_sum = 0.0
    for n, ex in enumerate(examples):
        tokens, weights = ex["tokens"], ex["weights"]
        if len(weights) != len(tokens):
            raise ReferenceError(f"train.examples[{n}]: weights has {len(weights)} entries for {len(tokens)} tokens")
        if len(tokens) < 2:
            continue
        lsm = F.log_softmax(model.logits(tokens), dim=-1)
        nll = -lsm[:-1].gather(1, torch.tensor(tokens[1:], dtype=torch.long)[:, None])[:, 0]
        w = torch.tensor(weights[1:], dtype=torch.float32)
        total = total + (w * nll).sum()
        weight_sum += float(sum(weights[1:]))
    if weight_sum <= 0:
        raise ReferenceError("train: the weights (after position 0) sum to zero")
    return total / weight_sum


def train(model, request):
    if model.lora is None:
        raise ReferenceError("train needs an adapter: the gradients are those of its LoRA A and B")
    params = model.lora.parameters()
    for p in params:
        p.requires_grad_(True)
    loss = weighted_loss(model, request["examples"])
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    sq = sum(float((g.double() ** 2).sum()) for g in grads if g is not None)
    for p in params:
        p.requires_grad_(False)
    return float(loss), math.sqrt(sq)


def token_accuracy(model, examples):
    """The weighted share of target tokens (weight > 0, after position 0) that are the argmax of
    the logits before them (the lowest id among equal maxima): a training step's token_accuracy."""
    correct = 0.0
    total = 0.0
    with torch.no_grad():
        for ex in examples:
            tokens, weights = ex["tokens"], ex["weights"]
            if len(tokens) < 2:
                continue
            logits = model.logits(tokens)
            for t in range(1, len(tokens)):
                if weights[t] <= 0:
                    continue
                total += weights[t]
                if first_argmax(logits[t - 1]) == tokens[t]:
                    correct += weights[t]
    return correct / total if total > 0 else 0.0


def first_argmax(row):
    """The lowest id among the maxima (torch.argmax does not promise which one)."""
    return int(torch.nonzero(row == row.max())[0, 0])


def greedy(model, request):
    tokens = list(request["prompt"])
    eos = set(request.get("eos_token_ids") or [])
    out = []
    with torch.no_grad():
        for _ in range(int(request["max_tokens"])):
            nxt = first_argmax(model.logits(tokens)[-1])
            if nxt in eos:
                break
            out.append(nxt)
            tokens.append(nxt)
    return out


def inspect(model, request):
    """Per tensor: stored dtype, shape, float64 sum and sum of squares; with `rounded_from`, how many
    values differ from that checkpoint's values rounded by torch to this one's dtype."""
    other = None
    if request.get("rounded_from"):
        other, _ = load_checkpoint_tensors(request["rounded_from"])
    torch_dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    out = {}
    tensors, dtypes = load_checkpoint_tensors(model.checkpoint_dir)
    for name, t in sorted(tensors.items()):
        entry = {"dtype": dtypes[name], "shape": list(t.shape), "sum": float(t.double().sum()), "sum_sq": float((t.double() ** 2).sum())}
        if other is not None:
            rounded = other[name].to(torch_dtypes[dtypes[name]]).to(torch.float32)
            entry["rounding_mismatches"] = int((rounded != t).sum())
        out[name] = entry
    return out


def handle(request):
    torch.manual_seed(0)
    model = Model(request["checkpoint"], request.get("adapter"))
    model.checkpoint_dir = request["checkpoint"]
    answer = {"vocab_size": model.config.vocab}
    if "logprobs" in request:
        answer["logprobs"] = []
        sums = []
        tops = []
        k = request.get("top_logprobs", 0)
        with torch.no_grad():
            for tokens in request["logprobs"]:
                lsm, lp = token_logprobs(model, tokens)
                answer["logprobs"].append(lp)
                sums.append(torch.logsumexp(lsm.double(), dim=-1).exp().tolist())
                if k > 0:
                    # Entry t: the k most likely tokens given tokens[<t], most likely first (ties:
                    # the lower id first, as argmax); entry 0 is None.
                    rows = []
                    for row in lsm[:-1]:
                        values, ids = torch.sort(row, descending=True, stable=True)
                        rows.append([[i, v] for i, v in zip(ids[:k].tolist(), values[:k].tolist())])
                    tops.append([None] + rows)
        if request.get("prob_sums"):
            answer["prob_sums"] = sums
        if k > 0:
            answer["top_logprobs"] = tops
    if "train" in request:
        answer["loss"], answer["grad_norm"] = train(model, request["train"])
        answer["token_accuracy"] = token_accuracy(model, request["train"]["examples"])
    if "greedy" in request:
        g = request["greedy"]
        # One request gives one token list; a list of requests gives one list each.
        answer["greedy_tokens"] = [greedy(model, one) for one in g] if isinstance(g, list) else greedy(model, g)
    if "inspect" in request:
        answer["tensors"] = inspect(model, request["inspect"] or {})
    return answer


def serve():
    """`--serve`: one JSON request per line on stdin, one line per request on stdout, in order:
    {"answer": ...}, or {"error": "hf_reference: <reason>"} where main() would exit 2 (any other
    exception: its traceback). torch is imported once; each request is handled as main() handles it."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = {"answer": handle(json.loads(line))}
            text = json.dumps(reply, allow_nan=False)
        except (ReferenceError, ValueError) as e:
            text = json.dumps({"error": f"hf_reference: {e}"})
        except Exception:  # noqa: BLE001 - reported to the caller, the process keeps serving
            text = json.dumps({"error": traceback.format_exc().strip()})
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def main():
    torch.set_num_threads(int(os.environ.get("HF_REFERENCE_THREADS", "1")))
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    try:
        request = json.load(sys.stdin)
        answer = handle(request)
        text = json.dumps(answer, allow_nan=False)
    except ReferenceError as e:
        sys.stderr.write(f"hf_reference: {e}\n")
        sys.exit(2)
    except ValueError as e:  # non-finite numbers in the answer
        sys.stderr.write(f"hf_reference: {e}\n")
        sys.exit(2)
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
