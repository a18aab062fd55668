"""The PyTorch peer of the engine in `npm run bench`, interleaved with it: the reference
(test/reference/hf_reference.py: transformers' modeling code and PEFT's LoRA, float32) on a
checkpoint and adapter, timed one command at a time so the engine's steps and PyTorch's alternate
under the same load.

stdin: first line {"checkpoint", "adapter": {"safetensors", "config"}, "examples": [{tokens, weights}]};
then one command a line:
  "step"  -> {"seconds", "loss", "grad_norm"}: one LoRA forward_backward (weighted mean NLL,
             gradients of every LoRA A and B)
  "floor" -> {"seconds"}: one-token products with every weight matrix of the model (each
             projection of each layer and the LM head), the least time of 5: the memory-bound
             floor of a decoding step
stdout: {"ready", "threads"} once the model is loaded, then one JSON line per command.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "test", "reference"))
import torch  # noqa: E402
import hf_reference as ref  # noqa: E402


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def floor_seconds(model):
    matrices = [w for name, w in model.w.items() if w.dim() == 2 and name.endswith("_proj.weight")]
    matrices.append(model.lm_head)
    xs = [torch.randn(1, w.shape[1]) for w in matrices]
    best = float("inf")
    with torch.no_grad():
        for _ in range(5):
            started = time.perf_counter()
            for x, w in zip(xs, matrices):
                x @ w.t()
            best = min(best, time.perf_counter() - started)
    return best


def main():
    request = json.loads(sys.stdin.readline())
    torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", str(os.cpu_count() or 1))))
    model = ref.Model(request["checkpoint"], request["adapter"])
    say({"ready": True, "threads": torch.get_num_threads()})
    for line in sys.stdin:
        command = line.strip()
        if command == "step":
            started = time.perf_counter()
            loss, grad_norm = ref.train(model, {"examples": request["examples"]})
            say({"seconds": time.perf_counter() - started, "loss": loss, "grad_norm": grad_norm})
        elif command == "floor":
            say({"seconds": floor_seconds(model)})


if __name__ == "__main__":
    main()
