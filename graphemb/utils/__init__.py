"""Small utilities: seeding, devices, progress bars."""
from graphemb.utils.seed import set_seed
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

__all__ = ["set_seed", "resolve_device", "progress"]
