"""Where things live in the repository, computed once from this file's place (training/paths.py).

Every module that names a repository path takes it from here, so moving a module between the
packages never changes what a path resolves to.
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINING_DIR = REPO_ROOT / "training"
ARCHITECTURE_PATH = REPO_ROOT / "src" / "model" / "architecture.json"
VAL_SPLIT_PATH = TRAINING_DIR / "val_split.txt"
STATE_DIR = TRAINING_DIR / "state"  # the lineage's state and record (committed)
CACHE_DIR = REPO_ROOT / "cache"  # git-ignored: image caches, the GPU pack, the lineage's work files
LINEAGE_WORK_DIR = CACHE_DIR / "lineage"  # pid files, candidates, evaluations, backups
DEFAULT_DATA_ROOT = REPO_ROOT.parent / "shared" / "data" / "voc"
TINYSSD_BINARY = REPO_ROOT / "target" / "release" / "tinyssd"
SHIPPED_MODEL = REPO_ROOT / "models" / "tinyssd_voc.safetensors"
