//! Outbound NAT for `--net veth,nat`, through nf_tables' netlink interface
//! (no `nft`, no iptables): one table per workload, `ip cgdash-<veth>`,
//! holding one chain and one rule —
//!
//! ```text
//! table ip cgdash-cgv0ad50002 {
//!     chain postrouting {
//!         type nat hook postrouting priority srcnat;
//!         ip saddr 10.213.0.2 oifname != "cgdash0" masquerade
//!     }
//! }
//! ```
//!
//! — so the workload's connections leave through the host's own address,
//! and nothing but its own traffic is touched. A table per workload, named
//! after its veth, is made and deleted with it (no shared rule to count
//! users of), and one whose veth is gone is stale (swept at the next start,
//! found by its marker in the state directory: see `net::sweep_nat`).
//!
//! The messages are nfnetlink's (linux/netfilter/nfnetlink.h, nf_tables.h):
//! a batch (BEGIN, the requests, END) on a `NETLINK_NETFILTER` socket; the
//! numbers in nf_tables attributes are big-endian.

use std::net::Ipv4Addr;

use super::nl::{self, Msg, NlError, Socket};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFPROTO_IPV4: u8 = 2;

const NLM_F_ACK: u16 = 4;
const NLM_F_ROOT: u16 = 0x100;
const NLM_F_MATCH: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NF_INET_POST_ROUTING: u32 = 4;
/// `srcnat` (NF_IP_PRI_NAT_SRC).
const PRIORITY_SRCNAT: u32 = 100;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFT_META_OIFNAME: u32 = 7;
/// The first 16-byte register (`NFT_REG_1`).
const NFT_REG_1: u32 = 1;
const IFNAMSIZ: usize = 16;

/// The chain's name in every cgdash table.
const CHAIN: &str = "postrouting";

/// The NAT table of the workload whose host-side veth is `veth`.
pub fn table_name(veth: &str) -> String {
    format!("cgdash-{veth}")
}

/// An nfnetlink message of nf_tables: `type` = subsystem << 8 | message.
fn msg(ty: u16, flags: u16) -> Msg {
    // struct nfgenmsg: family, version (0), res_id (big-endian, 0).
    Msg::new(
        (NFNL_SUBSYS_NFTABLES << 8) | ty,
        flags,
        &[NFPROTO_IPV4, 0, 0, 0],
    )
}

/// BEGIN/END of a batch: res_id names the subsystem.
fn batch(ty: u16) -> Msg {
    let id = NFNL_SUBSYS_NFTABLES.to_be_bytes();
    Msg::new(ty, 0, &[0, 0, id[0], id[1]])
}

fn be32(m: &mut Msg, ty: u16, v: u32) {
    m.attr(ty, &v.to_be_bytes());
}

/// One expression of a rule: `name` and its attributes (inside DATA).
fn expr(m: &mut Msg, name: &str, data: impl FnOnce(&mut Msg)) {
    m.begin(NFTA_LIST_ELEM);
    m.str(NFTA_EXPR_NAME, name);
    m.begin(NFTA_EXPR_DATA);
    data(m);
    m.end();
    m.end();
}

fn cmp(m: &mut Msg, op: u32, value: &[u8]) {
    expr(m, "cmp", |m| {
        be32(m, NFTA_CMP_SREG, NFT_REG_1);
        be32(m, NFTA_CMP_OP, op);
        m.begin(NFTA_CMP_DATA);
        m.attr(NFTA_DATA_VALUE, value);
        m.end();
    });
}

/// The requests that make `table` (see the module doc): masquerade what
/// `addr` sends out of any link but `bridge`.
fn nat_requests(table: &str, addr: Ipv4Addr, bridge: &str) -> Vec<Msg> {
    let mut t = msg(NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK);
    t.str(NFTA_TABLE_NAME, table);
    let mut c = msg(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK);
    c.str(NFTA_CHAIN_TABLE, table);
    c.str(NFTA_CHAIN_NAME, CHAIN);
    c.begin(NFTA_CHAIN_HOOK);
    be32(&mut c, NFTA_HOOK_HOOKNUM, NF_INET_POST_ROUTING);
    be32(&mut c, NFTA_HOOK_PRIORITY, PRIORITY_SRCNAT);
    c.end();
    c.str(NFTA_CHAIN_TYPE, "nat");
    let mut r = msg(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK);
    r.str(NFTA_RULE_TABLE, table);
    r.str(NFTA_RULE_CHAIN, CHAIN);
    r.begin(NFTA_RULE_EXPRESSIONS);
    // ip saddr ADDR: 4 bytes at offset 12 of the IPv4 header.
    expr(&mut r, "payload", |m| {
        be32(m, NFTA_PAYLOAD_DREG, NFT_REG_1);
        be32(m, NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
        be32(m, NFTA_PAYLOAD_OFFSET, 12);
        be32(m, NFTA_PAYLOAD_LEN, 4);
    });
    cmp(&mut r, NFT_CMP_EQ, &addr.octets());
    // oifname != BRIDGE (the name zero-padded to IFNAMSIZ, as nft sends it).
    expr(&mut r, "meta", |m| {
        be32(m, NFTA_META_KEY, NFT_META_OIFNAME);
        be32(m, NFTA_META_DREG, NFT_REG_1);
    });
    let mut name = [0u8; IFNAMSIZ];
    let n = bridge.len().min(IFNAMSIZ - 1);
    name[..n].copy_from_slice(&bridge.as_bytes()[..n]);
    cmp(&mut r, NFT_CMP_NEQ, &name);
    expr(&mut r, "masq", |_| {});
    r.end();
    vec![
        batch(NFNL_MSG_BATCH_BEGIN),
        t,
        c,
        r,
        batch(NFNL_MSG_BATCH_END),
    ]
}

/// Sends a batch and waits for the ACK of each request in it (BEGIN and
/// END ask for none).
fn run_batch(s: &mut Socket, msgs: Vec<Msg>, what: &str) -> Result<(), NlError> {
    let n = msgs.len();
    let seqs = s.send_all(msgs)?;
    for &seq in &seqs[1..n - 1] {
        s.replies(seq, what)?;
    }
    Ok(())
}

/// A netfilter socket in this network namespace.
fn socket() -> Result<Socket, NlError> {
    Socket::open_netfilter()
}

/// Makes the NAT table of a workload (after deleting a stale one of the
/// same name: the veth's name is its address, which is reused).
pub fn add_nat(veth: &str, addr: Ipv4Addr, bridge: &str) -> Result<(), NlError> {
    let mut s = socket()?;
    let table = table_name(veth);
    del_table_on(&mut s, &table)?;
    run_batch(
        &mut s,
        nat_requests(&table, addr, bridge),
        &format!("making the nf_tables table ip {table} (outbound NAT)"),
    )
}

/// Deletes a workload's NAT table; a missing one is not an error.
pub fn del_nat(veth: &str) -> Result<(), NlError> {
    del_table_on(&mut socket()?, &table_name(veth))
}

fn del_table_on(s: &mut Socket, table: &str) -> Result<(), NlError> {
    let mut d = msg(NFT_MSG_DELTABLE, NLM_F_ACK);
    d.str(NFTA_TABLE_NAME, table);
    match run_batch(
        s,
        vec![batch(NFNL_MSG_BATCH_BEGIN), d, batch(NFNL_MSG_BATCH_END)],
        &format!("deleting the nf_tables table ip {table}"),
    ) {
        Err(e) if e.errno == nix::errno::Errno::ENOENT => Ok(()),
        other => other,
    }
}

/// The names of this namespace's `ip` tables.
pub fn tables() -> Result<Vec<String>, NlError> {
    tables_on(&mut socket()?)
}

/// [`tables`] on a given netfilter socket (another namespace's).
pub fn tables_on(s: &mut Socket) -> Result<Vec<String>, NlError> {
    let m = msg(NFT_MSG_GETTABLE, NLM_F_ROOT | NLM_F_MATCH);
    let replies = s.request(m, "listing the nf_tables tables")?;
    Ok(replies
        .iter()
        .filter(|(t, b)| *t == (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWTABLE) && b.len() >= 4)
        .filter_map(|(_, b)| {
            nl::attrs(&b[4..])
                .into_iter()
                .find(|(t, _)| *t == NFTA_TABLE_NAME)
                .map(|(_, d)| nl::cstr(d))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule's bytes as nft lays them out (`nft --debug=netlink`):
    /// big-endian numbers, the interface name padded to 16 bytes, every
    /// expression a LIST_ELEM nest of NAME and DATA.
    #[test]
    fn nat_rule_layout() {
        let msgs = nat_requests(
            "cgdash-cgv0ad50002",
            Ipv4Addr::new(10, 213, 0, 2),
            "cgdash0",
        );
        assert_eq!(msgs.len(), 5);
        let bytes: Vec<Vec<u8>> = msgs.into_iter().map(|m| m.finish(7)).collect();
        // BEGIN: type 16, res_id = htons(10).
        assert_eq!(u16::from_ne_bytes([bytes[0][4], bytes[0][5]]), 16);
        assert_eq!(&bytes[0][16..20], &[0, 0, 0, 10]);
        // NEWCHAIN: the hook nest holds hooknum 4 and priority 100, big-endian.
        let chain = &bytes[2];
        assert_eq!(u16::from_ne_bytes([chain[4], chain[5]]), (10 << 8) | 3);
        let hook = nl::attrs(&chain[20..])
            .into_iter()
            .find(|(t, _)| *t == NFTA_CHAIN_HOOK)
            .unwrap()
            .1;
        let h = nl::attrs(hook);
        assert_eq!(h[0], (NFTA_HOOK_HOOKNUM, &4u32.to_be_bytes()[..]));
        assert_eq!(h[1], (NFTA_HOOK_PRIORITY, &100u32.to_be_bytes()[..]));
        // NEWRULE: five expressions in order; the address and the padded name.
        let rule = &bytes[3];
        let exprs = nl::attrs(&rule[20..])
            .into_iter()
            .find(|(t, _)| *t == NFTA_RULE_EXPRESSIONS)
            .unwrap()
            .1;
        let names: Vec<String> = nl::attrs(exprs)
            .into_iter()
            .map(|(_, e)| nl::cstr(nl::attrs(e)[0].1))
            .collect();
        assert_eq!(names, ["payload", "cmp", "meta", "cmp", "masq"]);
        let r = rule.as_slice();
        assert!(r.windows(4).any(|w| w == [10, 213, 0, 2]));
        let mut padded = b"cgdash0".to_vec();
        padded.resize(16, 0);
        assert!(r.windows(16).any(|w| w == padded.as_slice()));
    }
}
