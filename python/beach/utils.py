"""Helpers py-beach callers use on reply documents."""

from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = ["isMessageSuccess", "getMessageError", "is_message_success"]


def isMessageSuccess(msg: Optional[Dict[str, Any]]) -> bool:
    """Whether a reply document (``{'status': {'success': ...}}``) says it worked."""
    return bool(isinstance(msg, dict) and isinstance(msg.get("status"), dict) and msg["status"].get("success"))


def getMessageError(msg: Optional[Dict[str, Any]]) -> Optional[str]:
    """A failed reply document's error, or ``None``."""
    if isinstance(msg, dict) and isinstance(msg.get("status"), dict):
        return msg["status"].get("error")
    return None


is_message_success = isMessageSuccess
