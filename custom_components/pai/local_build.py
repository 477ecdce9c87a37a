"""Can llama-cpp-python be installed here? Found out in seconds, before any build starts.

llama-cpp-python has no Linux wheels on PyPI: pip builds it from source, which needs a C and
a C++ compiler (CMake comes from PyPI when it is missing) and takes minutes. Home Assistant
OS and the Container image have no compiler, so there a build can only fail, after minutes.
So before Home Assistant is asked to install it, this looks for what makes it possible:

1. it is installed already;
2. a wheel for this platform on the package indexes Home Assistant installs from (PyPI, or
   `PIP_INDEX_URL`, plus `PIP_EXTRA_INDEX_URL`/`UV_EXTRA_INDEX_URL` as Home Assistant's images
   set them), asked through their JSON simple API with a short timeout;
3. a C and a C++ compiler on `PATH` (`CC`/`CXX` when set).

None of them: no build is started, and the caller raises a Repairs issue whose fix switches the
agent to an OpenAI-compatible server on another machine.
"""

from __future__ import annotations

import asyncio
from importlib.util import find_spec
import logging
import os
import shutil
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from packaging.tags import Tag, sys_tags
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

_LOGGER = logging.getLogger(__name__)

PYPI_SIMPLE = "https://pypi.org/simple"
INDEX_TIMEOUT = 5.0
"""Seconds all the indexes together get to answer."""
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


def index_urls() -> list[str]:
    """Return the package indexes Home Assistant's installer uses, main one first."""
    urls = [os.environ.get("PIP_INDEX_URL") or PYPI_SIMPLE]
    for variable in ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX_URL"):
        urls += os.environ.get(variable, "").split()
    return list(dict.fromkeys(url.rstrip("/") for url in urls if url))


def compilers() -> tuple[str | None, str | None]:
    """Paths of the C and C++ compilers a source build would use (None: not there)."""
    c = shutil.which(os.environ.get("CC") or "cc") or shutil.which("gcc")
    cxx = shutil.which(os.environ.get("CXX") or "c++") or shutil.which("g++")
    return c, cxx


def wheel_fits(filename: str, name: str, version: str, tags: set[Tag]) -> bool:
    """Whether `filename` is a wheel of `name` `version` that installs on this platform."""
    try:
        wheel_name, wheel_version, _, wheel_tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return (
        wheel_name == canonicalize_name(name)
        and wheel_version == Version(version)
        and not wheel_tags.isdisjoint(tags)
    )


async def _async_index_has_wheel(
    session: aiohttp.ClientSession, index: str, name: str, version: str
) -> bool:
    url = f"{index}/{canonicalize_name(name)}/"
    async with session.get(
        url, headers={"Accept": SIMPLE_JSON}, raise_for_status=True
    ) as response:
        listing: Any = await response.json(content_type=None)
    files = listing.get("files", []) if isinstance(listing, dict) else []
    tags = set(sys_tags())
    return any(
        isinstance(file, dict)
        and wheel_fits(str(file.get("filename", "")), name, version, tags)
        for file in files
    )


async def async_wheel_available(hass: HomeAssistant, name: str, version: str) -> bool:
    """Whether any index offers a wheel of `name==version` for this platform."""
    session = async_get_clientsession(hass)
    try:
        async with asyncio.timeout(INDEX_TIMEOUT):
            for index in index_urls():
                try:
                    if await _async_index_has_wheel(session, index, name, version):
                        return True
                except (aiohttp.ClientError, ValueError) as err:
                    _LOGGER.debug("Package index %s did not answer: %s", index, err)
    except TimeoutError:
        _LOGGER.debug("The package indexes did not answer in %s s", INDEX_TIMEOUT)
    return False


async def async_build_problem(
    hass: HomeAssistant, requirement: str, module: str
) -> str | None:
    """Say why `requirement` (`name==version`, imported as `module`) cannot be installed.

    None when it can (or is installed). Takes seconds at most: no download, no build.
    """
    name, _, version = requirement.partition("==")
    if await hass.async_add_executor_job(find_spec, module) is not None:
        return None
    c, cxx = await hass.async_add_executor_job(compilers)
    if c and cxx:
        return None
    if await async_wheel_available(hass, name, version):
        return None
    missing = " and ".join(
        what for what, path in (("C", c), ("C++", cxx)) if path is None
    )
    return (
        f"{requirement} has no wheel for this system on the package indexes, and "
        f"building it from source needs a {missing} compiler, which this installation "
        "does not have (Home Assistant OS and the Container image have none)"
    )
