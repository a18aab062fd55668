"""Per-token logprobs of one sequence on a checkpoint, two ways: the PyTorch reference as
transformers computes in float32 (test/reference/hf_reference.py), and the same model in float64
throughout (its float32 casts in RMSNorm, RoPE and the softmax patched out): the exact value both
float32 implementations are measured against in `npm run bench`.

stdin: {"checkpoint", "tokens": [...]}    stdout: {"float32": [...], "float64": [...]}
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "reference"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import hf_reference as ref  # noqa: E402


def main():
    request = json.load(sys.stdin)
    tokens = request["tokens"]
    model = ref.Model(request["checkpoint"])
    _, lp32 = ref.token_logprobs(model, tokens)
    for name in list(model.w):
        model.w[name] = model.w[name].double()
    model.lm_head = model.w["model.embed_tokens.weight"] if model.config.tie else model.w["lm_head.weight"]
    c = model.config

    def rope(inv_freq, positions):
        freqs = (inv_freq.double()[None, :, None] @ positions.double()[None, None, :]).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def rms(h, w, eps):
        return w * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps))

    def attention(q, k, v, n_rep, scaling, mask):
        k, v = ref.repeat_kv(k, n_rep), ref.repeat_kv(v, n_rep)
        a = torch.matmul(q, k.transpose(2, 3)) * scaling + mask
        return torch.matmul(F.softmax(a, dim=-1), v).transpose(1, 2).contiguous()

    ref.rms_norm, ref.eager_attention = rms, attention
    ids = torch.tensor(tokens)
    h = F.embedding(ids, model.w["model.embed_tokens.weight"])[None]
    cos, sin = rope(model.inv_freq, torch.arange(len(tokens)))
    mask = ref.causal_mask(len(tokens), torch.float64)
    for i in range(c.layers):
        p = f"model.layers.{i}"
        h = h + model.attention(i, rms(h, model.w[f"{p}.input_layernorm.weight"], c.eps), cos, sin, mask)
        h = h + model.mlp(i, rms(h, model.w[f"{p}.post_attention_layernorm.weight"], c.eps))
    logits = F.linear(rms(h, model.w["model.norm.weight"], c.eps), model.lm_head)[0]
    lsm = F.log_softmax(logits, dim=-1)
    lp64 = [None] + lsm[:-1].gather(1, ids[1:, None])[:, 0].tolist()
    json.dump({"float32": lp32, "float64": lp64}, sys.stdout)


if __name__ == "__main__":
    main()
