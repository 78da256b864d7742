import { BlockList } from "node:net";
import { describe, expect, it } from "vitest";
import { clientIp, limitKey } from "../../src/relay/client-ip.ts";

const trust = (...cidrs: Array<[string, number]>) => {
  const l = new BlockList();
  for (const [ip, bits] of cidrs) l.addSubnet(ip, bits, ip.includes(":") ? "ipv6" : "ipv4");
  return l;
};

describe("clientIp", () => {
  it("ignores X-Forwarded-For unless the direct peer is trusted", () => {
    expect(clientIp("198.51.100.1", "203.0.113.9", null)).toBe("198.51.100.1");
    expect(clientIp("198.51.100.1", "203.0.113.9", trust(["10.0.0.0", 8]))).toBe("198.51.100.1");
    expect(clientIp("::ffff:10.0.0.2", "203.0.113.9", trust(["10.0.0.0", 8]))).toBe("203.0.113.9");
  });

  it("walks right to left past trusted hops, and stops at garbage", () => {
    const t = trust(["10.0.0.0", 8]);
    expect(clientIp("10.0.0.2", "1.1.1.1, 203.0.113.9, 10.0.0.7", t)).toBe("203.0.113.9");
    expect(clientIp("10.0.0.2", ["1.1.1.1", "10.0.0.9"], t)).toBe("1.1.1.1");
    expect(clientIp("10.0.0.2", "1.1.1.1, nonsense", t)).toBe("10.0.0.2");
    expect(clientIp("10.0.0.2", "10.0.0.8", t)).toBe("10.0.0.8");
  });
});

describe("limitKey", () => {
  it("keys IPv4 by address and IPv6 by /64", () => {
    expect(limitKey("203.0.113.9")).toBe("203.0.113.9");
    expect(limitKey("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(limitKey("2001:db8:1:2::99")).toBe("2001:db8:1:2::/64");
    expect(limitKey("2001:DB8::1")).toBe("2001:db8:0:0::/64");
    expect(limitKey("::1")).toBe("0:0:0:0::/64");
  });
});
