"""What a session's client says about the device behind it: a short summary of its User-Agent ("Firefox 133 on
Windows 10"), and the key that tells a known device from a new one for sign-in alerts.

User-Agent strings are read by `ua-parser` (the Python port of uap-core, the rules Browserscope, Keycloak and
Matomo use; its cache keeps a string it has seen to one lookup), never by regexes of our own. A User-Agent is what
the client says it is: good enough to recognise one's own devices in a list, never a proof of anything.
"""
import ipaddress

import ua_parser

from app.entities.audit_event import IP_MAX_LENGTH, USER_AGENT_MAX_LENGTH

SUMMARY_MAX_LENGTH = 100  # characters: the names come from the User-Agent, which the client chooses
IPV4_PREFIX = 24  # bits of an IPv4 address that name its network (a home or office line: one /24 or less)
IPV6_PREFIX = 48  # bits of an IPv6 address: a site (RFC 6177), which a home line usually gets whole
UNKNOWN_CLIENT = "Unknown client"


def stored_ip(client):
    """`client.ip_address` (a ClientInfo's) as sessions store it: cut to the column, None when unknown."""
    return (client.ip_address or None) and client.ip_address[:IP_MAX_LENGTH]


def stored_user_agent(client):
    """`client.user_agent` as sessions store it: cut to the column, None when absent."""
    return (client.user_agent or None) and client.user_agent[:USER_AGENT_MAX_LENGTH]


def describe(user_agent):
    """A short summary of the client a User-Agent header names, or None when it is absent or not recognised.

    "<browser> <version> on <OS> <version>" ("Firefox 133 on Windows 10", "Chrome 131 on Mac OS X 10.15"); the
    browser alone when no OS is named ("curl 8.5"); "Unknown client on <OS>" when only the OS is recognised. A
    version is its major number, and its minor one unless it is 0. At most SUMMARY_MAX_LENGTH characters.
    """
    if not user_agent:
        return None
    browser = ua_parser.parse_user_agent(user_agent)
    system = ua_parser.parse_os(user_agent)
    if browser is None and system is None:
        return None
    summary = _named(browser) if browser is not None else UNKNOWN_CLIENT
    if system is not None:
        summary += " on " + _named(system)
    return summary[:SUMMARY_MAX_LENGTH]


def device_key(ip_address, user_agent):
    """What makes two sign-ins come from "the same device" for sign-in alerts: (browser family, OS family,
    network), where the network is the address's /24 (IPv4) or /48 (IPv6) and the families carry no version, so
    that neither a browser update nor a new address from the same line looks like a new device. A User-Agent
    ua-parser does not recognise is its own family (the raw string); an address that does not parse is its own
    network. Missing values are None."""
    browser = system = None
    if user_agent:
        parsed_browser = ua_parser.parse_user_agent(user_agent)
        parsed_system = ua_parser.parse_os(user_agent)
        browser = parsed_browser.family if parsed_browser is not None else None
        system = parsed_system.family if parsed_system is not None else None
        if browser is None and system is None:
            browser = user_agent
    return browser, system, network(ip_address)


def network(ip_address):
    """The network of `ip_address` as a str: "203.0.113.0/24" for IPv4 (an IPv4-mapped IPv6 address counts as
    IPv4), "2001:db8:1::/48" for IPv6; the string itself when it is no address; None for None."""
    if not ip_address:
        return None
    try:
        address = ipaddress.ip_address(ip_address.split("%", 1)[0])  # without an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return ip_address
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _named(parsed):
    """"Family major[.minor]" of a ua-parser UserAgent or OS."""
    version = parsed.major or ""
    if version and parsed.minor and parsed.minor != "0":
        version += "." + parsed.minor
    return f"{parsed.family} {version}" if version else parsed.family
