"""SSH device configuration: devices.yaml fields (errors name file:line:field) and
~/.ssh/config resolution (aliases, ProxyJump chains), no network needed."""
from __future__ import annotations

import textwrap

import paramiko
import pytest

from harness.config.devices import load_devices
from harness.config.yamlfile import ConfigError
from harness.transport.ssh import resolve_endpoint


def _devices(tmp_path, body: str):
    p = tmp_path / "devices.yaml"
    p.write_text("devices:\n" + textwrap.indent(textwrap.dedent(body), "  "))
    return load_devices(p), p


def test_ssh_fields_and_defaults(tmp_path):
    devs, _ = _devices(tmp_path, """\
        k1:
          arch: riscv64
          transport: ssh
          host: k1.lab
          toolchain: riscv64-clang
          link_timeout_s: 4
          quarantine_after: 2
        """)
    d = devs["k1"]
    assert (d.port, d.lock, d.link_timeout_s, d.quarantine_after, d.keepalive_s) == (0, True, 4.0, 2, 2.0)


@pytest.mark.parametrize("field,value,msg", [("connect_timeout_s", "soon", "expected a number"),
                                             ("lock", "yes please", "expected true or false"),
                                             ("quarantine_after", 0, "must be >= 1"),
                                             ("ssh_port", 22, "unknown field")])
def test_bad_ssh_field_names_file_line_field(tmp_path, field, value, msg):
    with pytest.raises(ConfigError) as e:
        _devices(tmp_path, f"""\
            k1:
              arch: riscv64
              transport: ssh
              host: k1.lab
              toolchain: riscv64-clang
              {field}: {value!r}
            """)
    text = str(e.value)
    assert "devices.yaml:7" in text and field in text and msg in text, text


def test_ssh_config_alias_and_proxyjump_chain(tmp_path):
    cfg = paramiko.SSHConfig.from_text(textwrap.dedent("""\
        Host gw
            HostName gw.example.lab
            User jump
            Port 2200
        Host k1
            HostName 10.0.0.7
            User bench
            IdentityFile /nonexistent/key
            ProxyJump gw,admin@inner:2022
        """))
    devs, _ = _devices(tmp_path, """\
        k1:
          arch: riscv64
          transport: ssh
          host: k1
          toolchain: riscv64-clang
        """)
    ep = resolve_endpoint(devs["k1"], cfg)
    assert (ep.hostname, ep.port, ep.user) == ("10.0.0.7", 22, "bench")
    assert [(j.hostname, j.port, j.user) for j in ep.jumps] == [("gw.example.lab", 2200, "jump"), ("inner", 2022, "admin")]
    assert ep.known_hosts_name == "10.0.0.7"
    # devices.yaml fields win over the config, like ssh's command line
    devs, _ = _devices(tmp_path, """\
        k1:
          arch: riscv64
          transport: ssh
          host: k1
          port: 2222
          user: other
          toolchain: riscv64-clang
        """)
    ep = resolve_endpoint(devs["k1"], cfg)
    assert (ep.port, ep.user, ep.known_hosts_name) == (2222, "other", "[10.0.0.7]:2222")
