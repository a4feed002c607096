"""The outlet of an article that names none: its URL's registered domain, from the bundled public suffix list."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from indexer.sources.outlet import outlet_from_url
from tests.conftest import ROOT


@pytest.mark.parametrize(("url", "outlet"), [
    ("http://www.etonline.com/news/133594_Lindsay_Lohan/index.html", "etonline.com"),
    ("http://news.bbc.co.uk/2/hi/europe/1.stm", "bbc.co.uk"),  # a two-part public suffix
    ("https://www.abc.net.au/news/2019-01-04/x", "abc.net.au"),
    ("https://www.smh.com.au/world", "smh.com.au"),
    ("https://en.wikinews.org/wiki/Magnitogorsk", "wikinews.org"),
    ("https://www.city.kawasaki.jp/", "city.kawasaki.jp"),  # a suffix three labels long
    ("https://someblog.blogspot.com/2013/05/x.html", "someblog.blogspot.com"),  # one blog, not all of Blogspot
    ("HTTPS://WWW.Reuters.COM:443/world?id=1#top", "reuters.com"),  # case, port, query and fragment
    ("https://user:secret@edition.cnn.com/x", "cnn.com"),
    ("https://www.example.com./x", "example.com"),  # the root's trailing dot
    ("https://www.bücher.de/", "bücher.de"),
])
def test_registered_domain(url, outlet):
    assert outlet_from_url(url) == outlet


@pytest.mark.parametrize("url", [
    "", "   ", "not a url", "www.etonline.com/news",  # not absolute: no host to speak of
    "mailto:desk@example.com", "file:///tmp/news.html", "http://[::1", "http://:80/",
    "http://127.0.0.1:8000/a", "http://[::1]/a", "http://localhost/a", "http://intranet.invalid/a",
])
def test_no_outlet_without_a_registered_domain(url):
    assert outlet_from_url(url) == ""


def test_it_makes_no_request():
    """The suffix list is the snapshot in the installed package: a fresh process with every socket refused
    still answers (the list is loaded once per process, so the check needs a process of its own)."""
    script = """
import socket
def refuse(*args, **kwargs):
    raise AssertionError("a network request")
socket.socket.connect = socket.socket.connect_ex = socket.create_connection = socket.getaddrinfo = refuse
from indexer.sources.outlet import outlet_from_url
print(outlet_from_url("http://news.bbc.co.uk/x"), outlet_from_url("https://www.smh.com.au/y"))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bbc.co.uk", "smh.com.au"]
