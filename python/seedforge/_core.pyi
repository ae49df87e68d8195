# Type stubs for seedforge._core, the compiled module (python/module/core_module.cpp).
# Use the seedforge package's functions, which document these calls.
from typing import Any, Callable, Dict, Optional, Tuple, Union
import os

import torch

_Path = Union[str, "os.PathLike[str]"]

class InputError(ValueError): ...

def run_stage1(
    input_path: _Path,
    output_path: _Path,
    config: Union[None, str, Dict[str, Any]],
    resume: bool,
    dry_run: bool,
    progress: Optional[Callable[[Dict[str, Any]], None]],
    report_path: str,
) -> Dict[str, Any]: ...
def load(
    path: _Path, with_addresses: bool
) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any], Dict[str, str], Dict[str, int]]: ...
def decode(path: _Path) -> Dict[str, torch.Tensor]: ...
def evaluate(
    model: _Path,
    text: Optional[_Path],
    hellaswag: Optional[_Path],
    tokenizer: Optional[_Path],
    compare: Optional[_Path],
    max_docs: int,
    max_tasks: int,
    engine: str,
    device: str,
    batch_tokens: int,
    speed: bool,
    progress: bool,
) -> Dict[str, Any]: ...
def default_config() -> Dict[str, Any]: ...
def check_config(config: Union[None, str, Dict[str, Any]]) -> Dict[str, Any]: ...
