//! nf_tables expressions as the kernel takes them (`NFTA_EXPR_NAME` + `NFTA_EXPR_DATA`): the
//! few a written rule needs (meta, payload, cmp, immediate values and verdicts, counter, an
//! xtables match), each into register 1 (`NFT_REG_1`) unless said otherwise.

use super::msg::{attr, cstr, nested, u32_attr};
use super::IFNAMSIZ;
use crate::{Error, Result};

/// `NFT_REG_1` (a 16-byte register).
pub const REG1: u32 = 1;
/// `NFT_REG_2`.
pub const REG2: u32 = 2;
/// `NFTA_DATA_VALUE`.
const NFTA_DATA_VALUE: u16 = 1;
/// `NFTA_DATA_VERDICT`.
const NFTA_DATA_VERDICT: u16 = 2;
/// `NFTA_VERDICT_CODE`.
const NFTA_VERDICT_CODE: u16 = 1;
/// `NFT_CMP_EQ`.
const NFT_CMP_EQ: u32 = 0;

/// One expression: its name and (nested) data.
pub fn expr(name: &str, data: &[u8]) -> Vec<u8> {
    let mut e = attr(1, &cstr(name)); // NFTA_EXPR_NAME
    if !data.is_empty() {
        e.extend(nested(2, data)); // NFTA_EXPR_DATA
    }
    e
}

/// `meta KEY` into register 1.
pub fn meta(key: u32) -> Vec<u8> {
    let mut a = u32_attr(1, REG1); // NFTA_META_DREG
    a.extend(u32_attr(2, key)); // NFTA_META_KEY
    expr("meta", &a)
}

/// `payload load LEN @ BASE + OFFSET` into register 1.
pub fn payload(base: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut a = u32_attr(1, REG1); // NFTA_PAYLOAD_DREG
    a.extend(u32_attr(2, base)); // NFTA_PAYLOAD_BASE
    a.extend(u32_attr(3, offset)); // NFTA_PAYLOAD_OFFSET
    a.extend(u32_attr(4, len)); // NFTA_PAYLOAD_LEN
    expr("payload", &a)
}

/// `cmp eq reg 1 DATA`.
pub fn cmp(data: &[u8]) -> Vec<u8> {
    let mut a = u32_attr(1, REG1); // NFTA_CMP_SREG
    a.extend(u32_attr(2, NFT_CMP_EQ)); // NFTA_CMP_OP
    a.extend(nested(3, &attr(NFTA_DATA_VALUE, data))); // NFTA_CMP_DATA
    expr("cmp", &a)
}

/// `immediate reg REG DATA`.
pub fn immediate(reg: u32, data: &[u8]) -> Vec<u8> {
    let mut a = u32_attr(1, reg); // NFTA_IMMEDIATE_DREG
    a.extend(nested(2, &attr(NFTA_DATA_VALUE, data))); // NFTA_IMMEDIATE_DATA
    expr("immediate", &a)
}

/// `immediate reg 0 VERDICT` (`NF_ACCEPT` = 1, `NF_DROP` = 0).
pub fn verdict(code: i32) -> Vec<u8> {
    let mut a = u32_attr(1, 0); // NFTA_IMMEDIATE_DREG: NFT_REG_VERDICT
    let v = nested(NFTA_DATA_VERDICT, &u32_attr(NFTA_VERDICT_CODE, code as u32));
    a.extend(nested(2, &v)); // NFTA_IMMEDIATE_DATA
    expr("immediate", &a)
}

/// `counter` (from zero).
pub fn counter() -> Vec<u8> {
    let mut a = attr(1, &0u64.to_be_bytes()); // NFTA_COUNTER_BYTES
    a.extend(attr(2, &0u64.to_be_bytes())); // NFTA_COUNTER_PACKETS
    expr("counter", &a)
}

/// An xtables match through nft_compat: `match name NAME rev REV` with its binary info,
/// as iptables-nft writes the matches nf_tables has no expression for (`-m comment`).
pub fn xt_match(name: &str, rev: u32, info: &[u8]) -> Vec<u8> {
    let mut a = attr(1, &cstr(name)); // NFTA_MATCH_NAME
    a.extend(u32_attr(2, rev)); // NFTA_MATCH_REV
    a.extend(attr(3, info)); // NFTA_MATCH_INFO
    expr("match", &a)
}

/// `meta iifname/oifname` into reg 1, compared with the name NUL-padded to IFNAMSIZ.
pub fn ifname_match(key: u32, name: &str) -> Result<Vec<Vec<u8>>> {
    if name.is_empty() || name.len() >= IFNAMSIZ {
        return Err(Error::invalid("interface name", format!("\"{name}\"")));
    }
    let mut padded = [0u8; IFNAMSIZ];
    padded[..name.len()].copy_from_slice(name.as_bytes());
    Ok(vec![meta(key), cmp(&padded)])
}
