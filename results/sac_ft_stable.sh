#!/bin/bash
# RESULTS §22: fine-tuned sen + auxiliary loss with both options (layer-normalised features, BatchNorm on
# running statistics). Usage: results/sac_ft_stable.sh S
exec bash "$(dirname "$0")/sac_ft_ablation.sh" "$1" stable
