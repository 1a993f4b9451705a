"""The canary itself: every TCP connection, HTTP request and UDP datagram is recorded."""

from __future__ import annotations

import socket
import urllib.request

from crawler.demo.canary import HOST, LINK_LOCAL_V4, Canary, is_stun, stun_binding_request


def test_canary_records_http_tcp_and_udp_with_peer_and_time() -> None:
    with Canary() as canary:
        assert canary.hits == []
        with urllib.request.urlopen(f"{canary.http_url}/leak?x=1", timeout=5) as reply:
            assert reply.read() == b"canary secret\n"
        with socket.create_connection((HOST, canary.tcp_ports[0]), timeout=2) as s:
            s.sendall(b"\x00\x01turn")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.sendto(stun_binding_request(), (HOST, canary.udp_port))
            u.sendto(b"plain", (HOST, canary.udp_port))
        hits = canary.wait_for(6)
    kinds = sorted(h.kind for h in hits)
    assert kinds == ["http", "tcp", "tcp", "tcp", "udp", "udp"], hits
    http = next(h for h in hits if h.kind == "http")
    assert http.detail.startswith("GET /leak?x=1 Host: 127.0.0.1:")
    assert http.port == canary.http_port and http.peer[0] == HOST and http.time > 0
    raw = [h for h in hits if h.kind == "tcp" and h.port == canary.tcp_ports[0]]
    assert any("turn" in h.detail for h in raw)
    assert sorted(h.detail for h in hits if h.kind == "udp") == ["5 bytes", "stun"]


def test_canary_stops_listening_and_names_link_local_targets() -> None:
    canary = Canary()
    with canary:
        port = canary.http_port
        assert LINK_LOCAL_V4 in canary.link_local_urls[0]
        assert "[fe80::1]" in canary.link_local_urls[1]
    with socket.socket() as s:
        assert s.connect_ex((HOST, port)) != 0


def test_stun_detection() -> None:
    assert is_stun(stun_binding_request())
    assert not is_stun(b"GET / HTTP/1.1\r\n\r\nxxxxxxxxxx")
