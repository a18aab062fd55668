#!/usr/bin/env python3
"""Checks hf_reference.py against a second, deliberately different implementation.

The second one is written from the papers' formulas rather than transformers' code: float64
throughout, RoPE as a rotation of complex pairs (x_j, x_{j+d/2}), attention as explicit per-head
loops where query head h reads kv head h // (heads / kv_heads) (no repeat_kv), LoRA merged into
the weights (W + scaling * B @ A), Llama 3's RoPE scaling as Meta's original per-frequency loop.
Tiny checkpoints of all four architectures are written here in Python (own safetensors writer),
so this also checks the reference's reader against torch's own dtype conversions.

Run: /usr/bin/python3 test/reference/selfcheck.py  (prints one line per check; exit 1 on a failure)
"""

import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(1)
failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail else ''}")
    if not ok:
        failures.append(name)


# --- a safetensors writer of its own -------------------------------------------------------------


def write_safetensors(path, tensors, dtype):
    torch_dtype = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].to(torch_dtype).contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if dtype != "F32" else t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


ARCH = {
    "llama": ("LlamaForCausalLM", "llama"),
    "mistral": ("MistralForCausalLM", "mistral"),
    "qwen2": ("Qwen2ForCausalLM", "qwen2"),
    "qwen3": ("Qwen3ForCausalLM", "qwen3"),
}


def make_checkpoint(root, kind, *, heads=4, kv_heads=2, head_dim=8, hidden=24, ff=40, vocab=97, layers=2,
                    tie=False, bias=False, rope_scaling=None, dtype="F32", seed=0):
    arch, model_type = ARCH[kind]
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape, std=0.2: torch.randn(*shape, generator=g) * std
    w = {"model.embed_tokens.weight": rnd(vocab, hidden, std=0.5), "model.norm.weight": 1 + rnd(hidden, std=0.1)}
    if not tie:
        w["lm_head.weight"] = rnd(vocab, hidden, std=0.5)
    qkv_bias = kind == "qwen2" or (bias and kind in ("llama", "qwen3"))
    o_bias = bias and kind in ("llama", "qwen3")
    for i in range(layers):
        p = f"model.layers.{i}"
        w[f"{p}.input_layernorm.weight"] = 1 + rnd(hidden, std=0.1)
        w[f"{p}.post_attention_layernorm.weight"] = 1 + rnd(hidden, std=0.1)
        for name, (o, n) in {"q": (heads * head_dim, hidden), "k": (kv_heads * head_dim, hidden),
                             "v": (kv_heads * head_dim, hidden), "o": (hidden, heads * head_dim)}.items():
            w[f"{p}.self_attn.{name}_proj.weight"] = rnd(o, n)
            if (qkv_bias and name != "o") or (o_bias and name == "o"):
                w[f"{p}.self_attn.{name}_proj.bias"] = rnd(o, std=0.1)
        for name, (o, n) in {"gate": (ff, hidden), "up": (ff, hidden), "down": (hidden, ff)}.items():
            w[f"{p}.mlp.{name}_proj.weight"] = rnd(o, n)
        if kind == "qwen3":
            w[f"{p}.self_attn.q_norm.weight"] = 1 + rnd(head_dim, std=0.1)
            w[f"{p}.self_attn.k_norm.weight"] = 1 + rnd(head_dim, std=0.1)
    config = {
        "architectures": [arch], "model_type": model_type, "hidden_size": hidden, "intermediate_size": ff,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "vocab_size": vocab, "rms_norm_eps": 1e-5, "rope_theta": 100.0, "tie_word_embeddings": tie,
        "hidden_act": "silu", "max_position_embeddings": 64,
    }
    if kind != "qwen2":
        config["head_dim"] = head_dim
    elif head_dim != hidden // heads:
        config["head_dim"] = head_dim
    if kind in ("llama", "qwen3"):
        config["attention_bias"] = bias
    if kind != "mistral":
        config["rope_scaling"] = rope_scaling
    else:
        config["sliding_window"] = None
    d = tempfile.mkdtemp(dir=root)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    write_safetensors(os.path.join(d, "model.safetensors"), w, dtype)
    return d, config, w


def make_adapter(root, config, modules, r=3, alpha=6.0, zero_b=False, seed=1):
    g = torch.Generator().manual_seed(seed)
    h, d = config["hidden_size"], config.get("head_dim", config["hidden_size"] // config["num_attention_heads"])
    q, kv, ff = config["num_attention_heads"] * d, config["num_key_value_heads"] * d, config["intermediate_size"]
    shapes = {"q_proj": (q, h), "k_proj": (kv, h), "v_proj": (kv, h), "o_proj": (h, q),
              "gate_proj": (ff, h), "up_proj": (ff, h), "down_proj": (h, ff)}
    tensors = {}
    for i in range(config["num_hidden_layers"]):
        for m in modules:
            parent = "mlp" if m in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            out_f, in_f = shapes[m]
            p = f"base_model.model.model.layers.{i}.{parent}.{m}"
            tensors[f"{p}.lora_A.weight"] = torch.randn(r, in_f, generator=g) * 0.3
            tensors[f"{p}.lora_B.weight"] = torch.zeros(out_f, r) if zero_b else torch.randn(out_f, r, generator=g) * 0.3
    d = tempfile.mkdtemp(dir=root)
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors, "F32")
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "target_modules": list(modules),
           "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False, "base_model_name_or_path": "tiny"}
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(cfg, f)
    return {"safetensors": os.path.join(d, "adapter_model.safetensors"), "config": os.path.join(d, "adapter_config.json")}, tensors, alpha / r


# --- the second implementation -------------------------------------------------------------------


def meta_llama3_scaling(freqs, s):
    """Meta's apply_scaling (llama-models), one frequency at a time."""
    low_wl = s["original_max_position_embeddings"] / s["low_freq_factor"]
    high_wl = s["original_max_position_embeddings"] / s["high_freq_factor"]
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wl:
            out.append(freq)
        elif wavelen > low_wl:
            out.append(freq / s["factor"])
        else:
            smooth = (s["original_max_position_embeddings"] / wavelen - s["low_freq_factor"]) / (s["high_freq_factor"] - s["low_freq_factor"])
            out.append((1 - smooth) * freq / s["factor"] + smooth * freq)
    return out


def naive_logits(config, w, tokens, merged=None):
    """float64 logits [T, vocab], computed the long way."""
    W = {k: v.double() for k, v in w.items()}
    if merged:
        for k, delta in merged.items():
            W[k] = W[k] + delta
    kind = config["model_type"]
    H, KV = config["num_attention_heads"], config["num_key_value_heads"]
    d = config.get("head_dim", config["hidden_size"] // H)
    eps = config["rms_norm_eps"]
    freqs = [config["rope_theta"] ** (-2 * j / d) for j in range(d // 2)]
    if config.get("rope_scaling"):
        freqs = meta_llama3_scaling(freqs, config["rope_scaling"])

    def norm(x, weight):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight

    def lin(x, name):
        y = x @ W[name + ".weight"].T
        return y + W[name + ".bias"] if name + ".bias" in W else y

    def rope(v, pos):  # v: [d]
        out = v.clone()
        for j, f in enumerate(freqs):
            z = complex(float(v[j]), float(v[j + d // 2])) * complex(math.cos(pos * f), math.sin(pos * f))
            out[j], out[j + d // 2] = z.real, z.imag
        return out

    T = len(tokens)
    x = W["model.embed_tokens.weight"][torch.tensor(tokens)]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}"
        hn = norm(x, W[f"{p}.input_layernorm.weight"])
        q = lin(hn, f"{p}.self_attn.q_proj").view(T, H, d)
        k = lin(hn, f"{p}.self_attn.k_proj").view(T, KV, d)
        v = lin(hn, f"{p}.self_attn.v_proj").view(T, KV, d)
        if kind == "qwen3":
            q = norm(q, W[f"{p}.self_attn.q_norm.weight"])
            k = norm(k, W[f"{p}.self_attn.k_norm.weight"])
        q = torch.stack([torch.stack([rope(q[t, h], t) for h in range(H)]) for t in range(T)])
        k = torch.stack([torch.stack([rope(k[t, h], t) for h in range(KV)]) for t in range(T)])
        out = torch.zeros(T, H, d, dtype=torch.float64)
        for h in range(H):
            kvh = h // (H // KV)
            for t in range(T):
                scores = [float(q[t, h] @ k[s, kvh]) / math.sqrt(d) for s in range(t + 1)]
                m = max(scores)
                e = [math.exp(sc - m) for sc in scores]
                for s in range(t + 1):
                    out[t, h] += e[s] / sum(e) * v[s, kvh]
        x = x + lin(out.reshape(T, H * d), f"{p}.self_attn.o_proj")
        hn = norm(x, W[f"{p}.post_attention_layernorm.weight"])
        g = lin(hn, f"{p}.mlp.gate_proj")
        x = x + lin(g * torch.sigmoid(g) * lin(hn, f"{p}.mlp.up_proj"), f"{p}.mlp.down_proj")
    head = W["model.embed_tokens.weight"] if config["tie_word_embeddings"] else W["lm_head.weight"]
    return norm(x, W["model.norm.weight"]) @ head.T


def merged_deltas(tensors, scaling):
    out = {}
    for name, a in tensors.items():
        if ".lora_A." in name:
            base = name.replace("base_model.model.", "").replace(".lora_A.weight", ".weight")
            b = tensors[name.replace("lora_A", "lora_B")]
            out[base] = scaling * (b.double() @ a.double())
    return out


def naive_logprobs(logits, tokens):
    lsm = torch.log_softmax(logits, -1)
    return [None] + [float(lsm[t - 1, tokens[t]]) for t in range(1, len(tokens))]


def max_diff(a, b):
    return max(abs(x - y) for x, y in zip(a[1:], b[1:]))


# --- the checks ----------------------------------------------------------------------------------


def main():
    root = tempfile.mkdtemp(prefix="hf-selfcheck-")
    seq = [5, 17, 3, 96, 42, 42, 0, 11, 63]
    llama3_scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 16}

    # RoPE scaling as transformers computes it vs Meta's loop, on Llama 3.1's real sizes.
    real = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    inv = ref.default_inv_freq(128, 500000.0)
    ours = ref.llama3_inv_freq(inv, real)
    meta = torch.tensor(meta_llama3_scaling(inv.tolist(), real), dtype=torch.float32)
    regimes = {(2 * math.pi / f < 2048) - (2 * math.pi / f > 8192) for f in inv.tolist()}
    check("llama3 inv_freq equals Meta's apply_scaling (all three regimes present)",
          torch.allclose(ours, meta, rtol=1e-6, atol=0) and regimes == {-1, 0, 1}, f"max rel {float(((ours - meta) / meta).abs().max()):.2e}")

    # The reader: each stored dtype reads back as torch's own conversion of the values.
    g = torch.Generator().manual_seed(3)
    values = torch.randn(7, 5, generator=g) * torch.logspace(-9, 3, 5)
    for dtype, td in (("F32", torch.float32), ("F16", torch.float16), ("BF16", torch.bfloat16)):
        path = os.path.join(root, f"t-{dtype}.safetensors")
        write_safetensors(path, {"x": values}, dtype)
        back, dtypes = ref.read_safetensors(path)
        check(f"safetensors {dtype} reads back as torch's rounding", torch.equal(back["x"], values.to(td).float()) and dtypes["x"] == dtype)

    cases = [
        ("llama", dict(bias=True, rope_scaling=llama3_scaling)),
        ("llama", dict(kv_heads=4, tie=True)),  # plain multi-head attention
        ("mistral", dict(kv_heads=1)),
        ("qwen2", dict(heads=3, kv_heads=3, head_dim=8, hidden=24)),
        ("qwen3", dict(head_dim=10, tie=True)),  # head_dim * heads != hidden
        ("qwen3", dict(bias=True, dtype="BF16")),
    ]
    for n, (kind, kw) in enumerate(cases):
        label = f"{kind} {json.dumps({k: v for k, v in kw.items() if k != 'rope_scaling'})}{' llama3-rope' if 'rope_scaling' in kw else ''}"
        d, config, w = make_checkpoint(root, kind, seed=n, **kw)
        if kw.get("dtype") == "BF16":
            w = {k: v.to(torch.bfloat16).float() for k, v in w.items()}
        model = ref.Model(d)
        lp = ref.token_logprobs(model, seq)[1]
        truth = naive_logprobs(naive_logits(config, w, seq), seq)
        diff = max_diff(lp, truth)
        spread = max(truth[1:]) - min(truth[1:])
        check(f"{label}: logprobs equal the float64 per-head implementation", diff < 1e-4 and spread > 0.5, f"max |diff| {diff:.2e}, spread {spread:.2f}")

        # Causal: the last token cannot change what came before it.
        lp2 = ref.token_logprobs(model, seq[:-1] + [(seq[-1] + 1) % config["vocab_size"]])[1]
        check(f"{label}: causal", lp2[:-1] == lp[:-1] and lp2[-1] != lp[-1])

        modules = ["q_proj", "v_proj", "down_proj"] if n % 2 == 0 else list(ref.LORA_MODULES)
        zero, _, _ = make_adapter(root, config, modules, zero_b=True, seed=n)
        lp0 = ref.token_logprobs(ref.Model(d, zero), seq)[1]
        check(f"{label}: LoRA with B = 0 equals the base exactly", lp0 == lp)

        adapter, tensors, scaling = make_adapter(root, config, modules, seed=n)
        lora_model = ref.Model(d, adapter)
        lpa = ref.token_logprobs(lora_model, seq)[1]
        truth_a = naive_logprobs(naive_logits(config, w, seq, merged_deltas(tensors, scaling)), seq)
        diff_a, moved = max_diff(lpa, truth_a), max_diff(lpa, lp)
        check(f"{label}: LoRA {'+'.join(modules)} equals merged W + (alpha/r) B A", diff_a < 1e-4 and moved > 1e-2,
              f"max |diff| {diff_a:.2e}, moved the base by {moved:.2f}")

        # Loss and gradient: the weighted mean NLL, its autograd gradient against float64 finite differences.
        examples = [{"tokens": seq, "weights": [9.0, 1, 1, 0, 2, 1, 1, 0.5, 1]}, {"tokens": seq[2:6], "weights": [0, 1, 1, 1]}]
        loss, grad_norm = ref.train(lora_model, {"examples": examples})
        num = den = 0.0
        for ex in examples:
            t = naive_logprobs(naive_logits(config, w, ex["tokens"], merged_deltas(tensors, scaling)), ex["tokens"])
            num += sum(-wt * x for wt, x in zip(ex["weights"][1:], t[1:]))
            den += sum(ex["weights"][1:])
        check(f"{label}: loss is sum w_t * nll_t / sum w_t over t >= 1", abs(loss - num / den) < 1e-4, f"{loss:.6f} vs {num / den:.6f}")

        # grad_norm against central differences of the float64 loss along the gradient direction.
        params = lora_model.lora.parameters()
        for p in params:
            p.requires_grad_(True)
        grads = torch.autograd.grad(ref.weighted_loss(lora_model, examples), params)
        for p in params:
            p.requires_grad_(False)
        names = [k for k in sorted(tensors, key=lambda k: (int(k.split(".")[4]), list(ref.LORA_MODULES).index(k.split(".")[6]), k))]
        direction = {nm: gr.double() / grad_norm for nm, gr in zip(names, grads)}

        def loss64(step):
            moved_t = {nm: tensors[nm].double() + step * direction[nm] for nm in names}
            deltas = merged_deltas(moved_t, scaling)
            tot = 0.0
            for ex in examples:
                t = naive_logprobs(naive_logits(config, w, ex["tokens"], deltas), ex["tokens"])
                tot += sum(-wt * x for wt, x in zip(ex["weights"][1:], t[1:]))
            return tot / den

        h = 1e-4
        fd = (loss64(h) - loss64(-h)) / (2 * h)  # d loss / d step along grad / |grad| = |grad|
        check(f"{label}: grad_norm equals the finite-difference slope", abs(fd - grad_norm) < 1e-3 * grad_norm,
              f"{grad_norm:.6f} vs {fd:.6f}")

        # Greedy: step-by-step argmax of the long-way logits; EOS stops and is left out.
        toks = ref.greedy(model, {"prompt": seq[:3], "max_tokens": 4})
        want, cur = [], list(seq[:3])
        for _ in range(4):
            nxt = int(torch.argmax(naive_logits(config, w, cur)[-1]))
            want.append(nxt)
            cur.append(nxt)
        check(f"{label}: greedy tokens", toks == want, f"{toks} vs {want}")
        stop = ref.greedy(model, {"prompt": seq[:3], "max_tokens": 4, "eos_token_ids": [want[1]]})
        check(f"{label}: greedy stops at EOS without it", stop == want[: want.index(want[1])])

    check("ties go to the lowest id", ref.first_argmax(torch.tensor([0.5, 2.0, 1.0, 2.0])) == 1)

    print(f"{'FAILED: ' + ', '.join(failures) if failures else 'all checks passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
