#!/usr/bin/env python3
"""PyTorch side of tools/bench/bench_gpt2_step.cpp: the GPT-2-style models::LLM of tessera
(src/models/llm.cpp, preset gpt2-124m with the bench's overrides) written as a minimal PyTorch model, and
its training step timed the same way.

Model (matching tessera's, so the parameter count N is the same): token embedding + learned position
embedding (seq rows: the bench sets max_seq_len = seq), pre-LN blocks (LayerNorm eps 1e-5 -> fused qkv
Linear -> causal scaled_dot_product_attention -> o_proj; LayerNorm -> fc1 (4d) -> GELU(tanh) -> fc2),
final LayerNorm, lm_head tied to the token embedding, biases everywhere, no dropout; GPT-2 init.
One step = forward + shifted cross entropy (bf16 autocast around both unless --dtype fp32; fp32 params)
+ backward + AdamW step (lr 6e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1 on every parameter;
fused=True on CUDA) + zero_grad(set_to_none), then torch.cuda.synchronize(). --mode compile wraps the
model in torch.compile (default options); its first warm-up step includes the compilation.
The tokens are one random batch repeated every step, so the loss falls as it is memorised.

Prints "key value" lines: ms (median step), first_step_ms, params, loss_first, loss_last, peak_mb
(torch.cuda.max_memory_allocated on CUDA; the process's peak RSS on CPU). Exits non-zero with a
message on stderr when torch, or its CUDA for --device cuda, is unavailable.
Usage: gpt2_torch.py --device cpu|cuda --mode eager|compile [--batch B] [--seq T] [--layers L]
       [--d-model D] [--heads H] [--vocab V] [--dtype bf16|fp32] [--steps N] [--warmup W] [--threads N]
"""
import argparse
import math
import sys
import time

from bench_timing import median_ms

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"gpt2_torch.py: skipped: torch is not importable ({e})")


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(d, eps=1e-5)
        self.qkv_proj = nn.Linear(d, 3 * d)
        self.o_proj = nn.Linear(d, d)
        self.post_attention_layernorm = nn.LayerNorm(d, eps=1e-5)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x):
        b, s, d = x.shape
        qkv = self.qkv_proj(self.input_layernorm(x)).view(b, s, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o_proj(a.transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(F.gelu(self.fc1(self.post_attention_layernorm(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, vocab, seq, d, layers, heads):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.embed_positions = nn.Embedding(seq, d)
        self.layers = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(d, eps=1e-5)
        for name, p in self.named_parameters():  # GPT-2 init, as models::LLM::init
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "layernorm" in name or name.startswith("norm"):
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith(("o_proj.weight", "fc2.weight")) else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.embed_tokens(ids) + self.embed_positions(pos)
        for blk in self.layers:
            h = blk(h)
        return self.norm(h) @ self.embed_tokens.weight.t()  # tied lm_head


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--mode", choices=["eager", "compile"], default="eager")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--d-model", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=50304)
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"gpt2_torch.py: skipped: torch {torch.__version__} has no usable CUDA device "
                 f"(torch.version.cuda = {torch.version.cuda})")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    cuda = a.device == "cuda"  # fp32 matmuls stay fp32 (torch's default, no TF32), as tessera's GEMM
    torch.manual_seed(0)
    model = GPT2(a.vocab, a.seq, a.d_model, a.layers, a.heads).to(a.device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                            fused=cuda)
    run = torch.compile(model) if a.mode == "compile" else model
    ids = torch.randint(0, a.vocab, (a.batch, a.seq), device=a.device)
    losses, times = [], []

    def step():
        t0 = time.perf_counter()
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            logits = run(ids)
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)

    ms = median_ms(step, warmup=a.warmup, iters=a.steps)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mb()
    print(f"ms {ms:.4f}\nfirst_step_ms {times[0]:.4f}\nparams {params}")
    print(f"loss_first {losses[0].item():.6f}\nloss_last {losses[-1].item():.6f}\npeak_mb {peak:.2f}")


if __name__ == "__main__":
    main()
