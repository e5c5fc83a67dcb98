"""The counting proxy in front of SeaweedFS: signed S3 calls pass through, and it counts what they move."""

import socket

import pytest

from sfp_app.localstack.counting_proxy import Counts, CountingProxy
from sfp_app.localstack.seaweedfs import s3_client


def client_via(proxy: CountingProxy, server):
    return s3_client(proxy.url, server.access_key, server.secret_key, server.region)


def test_it_forwards_signed_requests_and_counts_requests_and_bytes(s3_server):
    payload = bytes(range(256)) * 1000  # 256 000 bytes
    s3_server.client().put_object(Bucket="sfp-test", Key="proxy/object.bin", Body=payload)
    with CountingProxy(s3_server.endpoint_url) as proxy:
        client = client_via(proxy, s3_server)
        assert proxy.counts() == Counts()
        assert client.get_object(Bucket="sfp-test", Key="proxy/object.bin")["Body"].read() == payload
        whole = proxy.counts()
        assert whole.requests == 1 and whole.body_bytes == len(payload)
        assert len(payload) < whole.response_bytes < len(payload) + 2000  # plus the status line and headers
        part = client.get_object(Bucket="sfp-test", Key="proxy/object.bin", Range="bytes=1000-1999")["Body"].read()
        assert part == payload[1000:2000]
        assert (proxy.counts() - whole).requests == 1 and (proxy.counts() - whole).body_bytes == 1000
        head = client.head_object(Bucket="sfp-test", Key="proxy/object.bin")
        assert head["ContentLength"] == len(payload)  # passed on, though no body comes through
        assert proxy.counts().requests == 3 and proxy.counts().body_bytes == len(payload) + 1000
        with pytest.raises(client.exceptions.NoSuchKey):  # errors come back as they are, and count too
            client.get_object(Bucket="sfp-test", Key="proxy/missing.bin")
        assert proxy.counts().requests == 4


def test_it_stops_by_itself_after_its_lifetime(s3_server):
    proxy = CountingProxy(s3_server.endpoint_url, lifetime_s=0.2)
    proxy._deadline.join(timeout=60)  # the timer's stop() has shut the server down and closed its socket
    assert not proxy.running
    with pytest.raises(OSError):  # nobody listens any more
        socket.create_connection(("127.0.0.1", int(proxy.url.rsplit(":", 1)[1])), timeout=5).close()
    proxy.stop()  # stopping again is harmless


def test_it_only_forwards_to_plain_http():
    with pytest.raises(ValueError, match="plain http"):
        CountingProxy("https://s3.amazonaws.com")
