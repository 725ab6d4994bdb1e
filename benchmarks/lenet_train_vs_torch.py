"""One LeNet-5 training step (forward, loss, backward, SGD update; batch 64)
with convcore.nn against the same network in PyTorch, alternated in one run.

    python benchmarks/lenet_train_vs_torch.py [--threads N] [--steps S] [--batch B]

Prints the median step time of each, images/s, and the ratio (> 1: convcore
faster). Both start from the same weights and see the same batches; their
losses are printed side by side as a check that they compute the same thing.
"""
import argparse
import statistics
import time

import numpy as np

import convcore
from convcore import nn, optim
from convcore.examples.lenet import lenet5


def _torch_twin(model, torch):
    tn = torch.nn
    net = tn.Sequential(
        tn.Conv2d(1, 6, 5), tn.ReLU(), tn.MaxPool2d(2),
        tn.Conv2d(6, 16, 5), tn.ReLU(), tn.MaxPool2d(2), tn.Flatten(),
        tn.Linear(400, 120), tn.ReLU(), tn.Linear(120, 84), tn.ReLU(), tn.Linear(84, 10))
    state = {k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()}
    net.load_state_dict(state)
    return net


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    args = p.parse_args(argv)
    convcore.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((args.batch, 1, 32, 32)).astype(np.float32),
                rng.integers(0, 10, args.batch)) for _ in range(8)]
    model = lenet5(rng=0)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=args.lr)

    def cc_step(x, y):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
        return float(loss)

    contenders = {"convcore": cc_step}
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch not installed (pip install torch==2.13.0): convcore alone")
    if torch is not None:
        torch.set_num_threads(args.threads)
        tnet = _torch_twin(model, torch)
        tloss = torch.nn.CrossEntropyLoss()
        topt = torch.optim.SGD(tnet.parameters(), lr=args.lr)
        tbatches = {id(x): (torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches}

        def torch_step(x, y):
            tx, ty = tbatches[id(x)]
            loss = tloss(tnet(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()
            return loss.item()

        contenders["torch"] = torch_step

    losses = {k: [] for k in contenders}
    for i in range(len(batches)):  # warm-up, and the same first steps for both
        for name, step in contenders.items():
            losses[name].append(step(*batches[i]))
    times = {k: [] for k in contenders}
    for i in range(args.steps):
        x, y = batches[i % len(batches)]
        for name, step in (contenders.items() if i % 2 else reversed(contenders.items())):
            t0 = time.perf_counter()
            step(x, y)
            times[name].append(time.perf_counter() - t0)

    print(f"LeNet-5 training step, batch {args.batch}, {args.threads} thread(s), "
          f"median of {args.steps} alternated steps")
    for name in contenders:
        med = statistics.median(times[name])
        print(f"  {name:9s} {1e3 * med:7.3f} ms/step  {args.batch / med:9,.0f} images/s  "
              f"first losses {', '.join(f'{v:.4f}' for v in losses[name][:3])}")
    if "torch" in times:
        ratio = statistics.median(times["torch"]) / statistics.median(times["convcore"])
        print(f"  ratio torch/convcore time: {ratio:.2f}x (> 1: convcore faster)")


if __name__ == "__main__":
    main()
