"""The data: VOC records and the image cache (voc), augmentation on the CPU (transforms) and on the
GPU (gpu_augment), torch datasets and the resumable samplers (dataset), the GPU burst's pack (gpu_pack)."""
