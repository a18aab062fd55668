"""Times one LoRA forward_backward (weighted mean NLL, gradients of every LoRA A and B) of the
PyTorch reference (test/reference/hf_reference.py: transformers' modeling code and PEFT's LoRA,
float32) on a checkpoint and adapter: the peer of the engine's step in `npm run bench`.

stdin: {"checkpoint", "adapter": {"safetensors", "config"}, "examples": [{tokens, weights}], "repeats"}
stdout: {"seconds": [...], "loss", "grad_norm", "threads", "blas"}
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "reference"))
import torch  # noqa: E402
import hf_reference as ref  # noqa: E402


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", str(os.cpu_count() or 1))))
    model = ref.Model(request["checkpoint"], request["adapter"])
    seconds = []
    loss = grad_norm = None
    for _ in range(int(request.get("repeats", 3))):
        started = time.perf_counter()
        loss, grad_norm = ref.train(model, {"examples": request["examples"]})
        seconds.append(time.perf_counter() - started)
    json.dump({"seconds": seconds, "loss": loss, "grad_norm": grad_norm, "threads": torch.get_num_threads()}, sys.stdout)


if __name__ == "__main__":
    main()
