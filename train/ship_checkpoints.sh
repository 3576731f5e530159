#!/usr/bin/env bash
# The exact recipes of the checkpoints shipped in checkpoints/. Each run resumes from its last
# complete epoch, so this script can be stopped and started again at any time.
#   bash train/ship_checkpoints.sh            # all of them, in this order
#   bash train/ship_checkpoints.sh fashion    # only the lines whose output name matches
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
only=${1:-}

run() {  # run KIND OUT ARGS...
  local kind=$1 out=$2; shift 2
  [[ -n "$only" && "$out" != *"$only"* ]] && return 0
  echo "=== $kind -> checkpoints/$out"
  "$PY" "train/$kind.py" --out "checkpoints/$out" --resume --no-progress "$@"
}

run vae        fashion-mnist-vae-16   --dataset fashion-mnist --latent-dim 16 --epochs 15
run classifier mnist-classifier       --dataset mnist --epochs 15
run vae        mnist-vae-16           --dataset mnist --latent-dim 16 --epochs 40
run vae        mnist-vae-2            --dataset mnist --latent-dim 2 --epochs 40
run classifier fashion-mnist-classifier --dataset fashion-mnist --epochs 8
run vae        fashion-mnist-vae-2    --dataset fashion-mnist --latent-dim 2 --epochs 10
# The GANs (issue 17's recipe, see BENCHMARKS.md "GAN recipes"): small networks (width 32, batch 64)
# with DiffAugment's translation and cutout (not its colour: on black backgrounds it let a grey haze
# through) and a learning rate of 5e-4; the class is read from the latent (the largest of z[:10]) and
# the projection discriminator judges each image with that class (an auxiliary class head made each
# class's images too alike: recall 0.50 against 0.70 on Fashion-MNIST), and a mode-seeking term
# (weight 0.1) keeps each class varied (0.2 and 0.3 gave more variety on Fashion-MNIST, recall 0.74 and
# 0.77, but fewer clear garments: 71% and 68% named with confidence against 81% of real ones).
# Fashion-MNIST's generator is wider (64 channels; the discriminator stays at 32), which gave its
# samples more variety: it covers more of the test set (recall 0.81 against 0.76 at width 48, both
# 24 epochs, and 0.70 at width 32, 16 epochs) at the same precision (0.87). Run again on this
# machine's 2 cores, this line took 56.7 min end to end (epochs 104-148 s alone, the first two slower).
run gan        mnist-gan-32           --dataset mnist --latent-dim 32 --epochs 70 --width 32 --batch-size 64 \
                                      --lr 5e-4 --diffaugment translation,cutout --classes-from-latent \
                                      --class-head projection --mode-seeking 0.1
run gan        fashion-mnist-gan-32   --dataset fashion-mnist --latent-dim 32 --epochs 24 --width 64 \
                                      --discriminator-width 32 --batch-size 64 \
                                      --lr 5e-4 --diffaugment translation,cutout --classes-from-latent \
                                      --class-head projection --mode-seeking 0.1

# For the lessons: VAEs at other KL weights (beta), and a GAN trained with a recipe that
# collapses: no spectral norm, a high learning rate, ten generator steps per discriminator step,
# half the data, the last generator weights rather than their moving average, and the plain
# DCGAN layout without the 3x3 refining convolutions.
run vae        mnist-vae-beta-0.5     --dataset mnist --latent-dim 16 --epochs 30 --beta 0.5
run vae        mnist-vae-beta-4       --dataset mnist --latent-dim 16 --epochs 30 --beta 4
run gan        mnist-gan-collapsed    --dataset mnist --latent-dim 32 --epochs 3 --no-spectral-norm --lr 2e-3 \
                                      --generator-steps 10 --ema-decay 0 --limit 4000 --refine-convs 0

# Diffusion (issue 27), flow matching (rectified flow) in genlab/models/diffusion.py: a small U-Net
# over pixels (widths 32/64/64 at 28/14/7 pixels, one residual block a level, attention at 7x7),
# batch 64, lr 1e-3 with the cosine schedule, the moving average of the weights shipped, sampled
# with 10 Heun steps. One thread each (as measured for the README), resumable epoch by epoch.
# MNIST: 25 epochs (3,125 steps), 49 min on one thread beside other jobs. Fashion-MNIST: 2 epochs
# of its 60,000 images (1,875 steps, about 12 min an epoch on one thread).
run diffusion  mnist-diffusion        --dataset mnist --epochs 25 --batch-size 64 --lr 1e-3 --threads 1
run diffusion  fashion-mnist-diffusion --dataset fashion-mnist --epochs 2 --batch-size 64 --lr 1e-3 --threads 1
# A latent prior for each 16-d VAE: a residual MLP over the VAE's posterior means (its folder sits
# beside the VAE's; it needs that VAE to load). A few minutes each.
run latent_diffusion mnist-vae-16-latent-diffusion --dataset mnist --vae checkpoints/mnist-vae-16 \
                                      --epochs 300 --batch-size 256 --threads 1
run latent_diffusion fashion-mnist-vae-16-latent-diffusion --dataset fashion-mnist \
                                      --vae checkpoints/fashion-mnist-vae-16 --epochs 20 --batch-size 256 --threads 1
