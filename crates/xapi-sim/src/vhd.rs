//! The VHD image format (Microsoft's *Virtual Hard Disk Image Format
//! Specification* 1.0), as far as xapi's disk transfers use it: writing a
//! dynamic or differencing VHD as a stream (footer copy, dynamic header,
//! BAT, blocks with their sector bitmaps, footer, in the order vhd-tool
//! streams them), and reading a dynamic, differencing or fixed VHD from a
//! stream in one pass. All numbers are big-endian. Pure: no I/O but the
//! `Read` it is given.

use std::io::{self, Read};

/// Sector size.
pub const SECTOR: u64 = 512;
/// The data block size written: 2 MiB, as every XenServer VHD.
pub const BLOCK_SIZE: u32 = 2 << 20;
/// Where the BAT starts in a written stream (vhd-tool's layout).
const TABLE_OFFSET: u64 = 2048;
/// The largest VHD xapi writes (`Constants.max_vhd_size`, 2040 GiB).
pub const MAX_SIZE: u64 = 2040 << 30;
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01T00:00:00Z).
const VHD_EPOCH: u64 = 946_684_800;
const UNUSED: u32 = 0xFFFF_FFFF;

const FOOTER_COOKIE: &[u8; 8] = b"conectix";
const HEADER_COOKIE: &[u8; 8] = b"cxsparse";

/// A VHD's disk type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType {
    Fixed,
    Dynamic,
    Differencing,
}

impl DiskType {
    fn code(self) -> u32 {
        match self {
            DiskType::Fixed => 2,
            DiskType::Dynamic => 3,
            DiskType::Differencing => 4,
        }
    }
}

/// What went wrong reading a VHD.
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    Format(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Format(why) => write!(f, "not a valid VHD: {why}"),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

fn bad<T>(why: impl Into<String>) -> Result<T, Error> {
    Err(Error::Format(why.into()))
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The one's complement of the byte sum, the checksum field counted as zero.
fn checksum(b: &[u8], field: usize) -> u32 {
    let sum = b.iter().enumerate().filter(|(i, _)| !(field..field + 4).contains(i)).map(|(_, &x)| u32::from(x));
    !sum.fold(0u32, u32::wrapping_add)
}

/// The spec's CHS geometry for a disk of `size` bytes: (cylinders, heads, sectors per track).
pub fn geometry(size: u64) -> (u16, u8, u8) {
    let total = (size / SECTOR).min(65535 * 16 * 255);
    let (spt, heads, cyl_heads) = if total >= 65535 * 16 * 63 {
        (255, 16, total / 255)
    } else {
        let mut spt = 17;
        let mut cth = total / 17;
        let mut heads = cth.div_ceil(1024).max(4);
        if cth >= heads * 1024 || heads > 16 {
            spt = 31;
            heads = 16;
            cth = total / 31;
        }
        if cth >= heads * 1024 {
            spt = 63;
            heads = 16;
            cth = total / 63;
        }
        (spt, heads, cth)
    };
    ((cyl_heads / heads) as u16, heads as u8, spt as u8)
}

/// Seconds since the VHD epoch for a Unix time.
pub fn timestamp(unix_secs: u64) -> u32 {
    unix_secs.saturating_sub(VHD_EPOCH).min(u64::from(u32::MAX)) as u32
}

/// The parent of a differencing VHD.
#[derive(Debug, Clone)]
pub struct Parent {
    pub uuid: [u8; 16],
    pub timestamp: u32,
    /// The parent's file name, as a VHD names it.
    pub name: String,
}

/// A VHD to write: its size, identity and allocated blocks.
#[derive(Debug, Clone)]
pub struct Layout {
    pub size: u64,
    pub uuid: [u8; 16],
    pub timestamp: u32,
    /// Indices of the allocated 2 MiB blocks, ascending.
    pub blocks: Vec<u64>,
    /// A differencing VHD's parent; `None` writes a dynamic VHD.
    pub parent: Option<Parent>,
}

impl Layout {
    fn entries(&self) -> u64 {
        self.size.div_ceil(u64::from(BLOCK_SIZE))
    }

    fn bat_bytes(&self) -> u64 {
        (self.entries() * 4).div_ceil(SECTOR) * SECTOR
    }

    fn first_block(&self) -> u64 {
        TABLE_OFFSET + self.bat_bytes()
    }

    /// Bytes a block takes in the file: its bitmap and its data.
    fn block_stride() -> u64 {
        SECTOR + u64::from(BLOCK_SIZE)
    }

    /// The whole stream's length.
    pub fn total_len(&self) -> u64 {
        self.first_block() + self.blocks.len() as u64 * Self::block_stride() + SECTOR
    }

    /// The footer (also written first, as its copy).
    pub fn footer(&self) -> [u8; 512] {
        let mut f = [0u8; 512];
        f[0..8].copy_from_slice(FOOTER_COOKIE);
        f[8..12].copy_from_slice(&2u32.to_be_bytes());
        f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        f[16..24].copy_from_slice(&SECTOR.to_be_bytes());
        f[24..28].copy_from_slice(&self.timestamp.to_be_bytes());
        // vhd-tool's creator: qemu then sizes the disk from its geometry.
        f[28..32].copy_from_slice(b"caml");
        f[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        f[36..40].copy_from_slice(b"Wi2k");
        f[40..48].copy_from_slice(&self.size.to_be_bytes());
        f[48..56].copy_from_slice(&self.size.to_be_bytes());
        let (c, h, s) = geometry(self.size);
        f[56..58].copy_from_slice(&c.to_be_bytes());
        f[58] = h;
        f[59] = s;
        let ty = if self.parent.is_some() { DiskType::Differencing } else { DiskType::Dynamic };
        f[60..64].copy_from_slice(&ty.code().to_be_bytes());
        f[68..84].copy_from_slice(&self.uuid);
        let sum = checksum(&f, 64);
        f[64..68].copy_from_slice(&sum.to_be_bytes());
        f
    }

    fn header(&self) -> [u8; 1024] {
        let mut h = [0u8; 1024];
        h[0..8].copy_from_slice(HEADER_COOKIE);
        h[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        h[16..24].copy_from_slice(&TABLE_OFFSET.to_be_bytes());
        h[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        h[28..32].copy_from_slice(&(self.entries() as u32).to_be_bytes());
        h[32..36].copy_from_slice(&BLOCK_SIZE.to_be_bytes());
        if let Some(p) = &self.parent {
            h[40..56].copy_from_slice(&p.uuid);
            h[56..60].copy_from_slice(&p.timestamp.to_be_bytes());
            for (i, unit) in p.name.encode_utf16().take(256).enumerate() {
                h[64 + 2 * i..66 + 2 * i].copy_from_slice(&unit.to_be_bytes());
            }
        }
        let sum = checksum(&h, 36);
        h[36..40].copy_from_slice(&sum.to_be_bytes());
        h
    }

    /// Everything before the first block: footer copy, dynamic header, an
    /// empty sector, and the BAT (blocks follow in index order).
    pub fn head(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.first_block() as usize);
        out.extend_from_slice(&self.footer());
        out.extend_from_slice(&self.header());
        out.resize(TABLE_OFFSET as usize, 0);
        let mut bat = vec![UNUSED; self.entries() as usize];
        let stride = Self::block_stride() / SECTOR;
        for (n, &i) in self.blocks.iter().enumerate() {
            if let Some(e) = bat.get_mut(i as usize) {
                *e = (self.first_block() / SECTOR + n as u64 * stride) as u32;
            }
        }
        for e in bat {
            out.extend_from_slice(&e.to_be_bytes());
        }
        out.resize(self.first_block() as usize, 0xFF);
        out
    }

    /// A block's sector bitmap: every sector present.
    pub fn bitmap() -> [u8; 512] {
        [0xFF; 512]
    }
}

/// Where the bytes of a VHD being read go.
pub trait Sink {
    /// Learns the image's type and size before any data.
    fn start(&mut self, ty: DiskType, size: u64) -> io::Result<()>;
    /// Data at a byte offset of the virtual disk.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Reports progress: bytes of the stream read so far.
    fn progress(&mut self, _read: u64) -> io::Result<()> {
        Ok(())
    }
}

/// A stream read once, front to back, that knows its position.
struct Stream<R> {
    r: R,
    pos: u64,
}

impl<R: Read> Stream<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        self.r.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::Format(format!("the stream ends early, at byte {}", self.pos)),
            _ => Error::Io(e),
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Reads and drops bytes up to `to`.
    fn skip_to(&mut self, to: u64, what: &str) -> Result<(), Error> {
        if to < self.pos {
            return bad(format!("the {what} at byte {to} comes before byte {} already read", self.pos));
        }
        let n = io::copy(&mut (&mut self.r).take(to - self.pos), &mut io::sink())?;
        self.pos += n;
        if self.pos < to {
            return bad(format!("the stream ends at byte {} before the {what}", self.pos));
        }
        Ok(())
    }
}

fn parse_footer(f: &[u8]) -> Result<(DiskType, u64, u64), Error> {
    if &f[0..8] != FOOTER_COOKIE {
        return bad("no 'conectix' footer");
    }
    if be32(f, 64) != checksum(f, 64) {
        return bad("the footer's checksum is wrong");
    }
    let ty = match be32(f, 60) {
        2 => DiskType::Fixed,
        3 => DiskType::Dynamic,
        4 => DiskType::Differencing,
        t => return bad(format!("unknown disk type {t}")),
    };
    Ok((ty, be64(f, 48), be64(f, 16)))
}

/// Reads a VHD from `r` into `sink`: dynamic and differencing images by
/// their BAT, in one pass (blocks must come in ascending file order, as
/// every streamed VHD has them); a fixed image needs `len`, the stream's
/// length, since its footer comes last. Dynamic and fixed images write
/// every sector of the disk they cover (unallocated ones as zeros, through
/// [`Sink::start`]'s caller); a differencing image writes only the sectors
/// it holds. Returns the type and virtual size (which may exceed the
/// disk's: qemu rounds sizes up to whole cylinders; the sink decides).
pub fn read(r: impl Read, len: Option<u64>, sink: &mut dyn Sink) -> Result<(DiskType, u64), Error> {
    let mut s = Stream { r, pos: 0 };
    let mut first = [0u8; 512];
    s.exact(&mut first)?;
    if &first[0..8] != FOOTER_COOKIE {
        return read_fixed(s, first, len, sink);
    }
    let (ty, size, data_offset) = parse_footer(&first)?;
    if ty == DiskType::Fixed {
        return bad("a fixed VHD has no footer at its start");
    }
    sink.start(ty, size)?;
    s.skip_to(data_offset, "dynamic header")?;
    let mut h = [0u8; 1024];
    s.exact(&mut h)?;
    if &h[0..8] != HEADER_COOKIE {
        return bad("no 'cxsparse' dynamic header");
    }
    if be32(&h, 36) != checksum(&h, 36) {
        return bad("the dynamic header's checksum is wrong");
    }
    let table = be64(&h, 16);
    let entries = u64::from(be32(&h, 28));
    let block_size = u64::from(be32(&h, 32));
    if !block_size.is_power_of_two() || !(SECTOR * 8..=256 << 20).contains(&block_size) {
        return bad(format!("unsupported block size {block_size}"));
    }
    if entries * block_size < size {
        return bad("its BAT does not cover its virtual size");
    }
    s.skip_to(table, "BAT")?;
    let mut bat = vec![0u8; (entries * 4) as usize];
    s.exact(&mut bat)?;
    let mut blocks: Vec<(u64, u64)> = (0..entries)
        .map(|i| (u64::from(be32(&bat, 4 * i as usize)), i))
        .filter(|&(sector, _)| sector != u64::from(UNUSED))
        .collect();
    blocks.sort_unstable();
    let bitmap_len = (block_size / SECTOR).div_ceil(8).div_ceil(SECTOR) * SECTOR;
    let mut bitmap = vec![0u8; bitmap_len as usize];
    let mut data = vec![0u8; block_size as usize];
    for (sector, index) in blocks {
        s.skip_to(sector * SECTOR, "data block")?;
        s.exact(&mut bitmap)?;
        s.exact(&mut data)?;
        let start = index * block_size;
        let within = size.saturating_sub(start).min(block_size) as usize;
        let present = |n: usize| bitmap[n / 8] & (0x80 >> (n % 8)) != 0;
        let sectors = within.div_ceil(SECTOR as usize);
        if ty == DiskType::Dynamic {
            // Sectors the bitmap leaves out read as zeros.
            let gaps: Vec<usize> = (0..sectors).filter(|&n| !present(n)).collect();
            for n in gaps {
                let end = ((n + 1) * SECTOR as usize).min(data.len());
                data[n * SECTOR as usize..end].fill(0);
            }
            sink.write_at(start, &data[..within])?;
        } else {
            let mut n = 0;
            while n < sectors {
                if !present(n) {
                    n += 1;
                    continue;
                }
                let run = (n..sectors).take_while(|&m| present(m)).count();
                let (a, b) = (n * SECTOR as usize, ((n + run) * SECTOR as usize).min(within));
                sink.write_at(start + a as u64, &data[a..b])?;
                n += run;
            }
        }
        sink.progress(s.pos)?;
    }
    // The footer ends the stream.
    let rest = io::copy(&mut s.r, &mut io::sink())?;
    sink.progress(s.pos + rest)?;
    Ok((ty, size))
}

/// A fixed VHD: the disk's bytes, then the footer.
fn read_fixed(
    mut s: Stream<impl Read>,
    first: [u8; 512],
    len: Option<u64>,
    sink: &mut dyn Sink,
) -> Result<(DiskType, u64), Error> {
    let Some(len) = len else {
        return bad("no footer at its start, and without a length a fixed VHD's footer cannot be found");
    };
    if len < 2 * SECTOR || len % SECTOR != 0 {
        return bad("no footer at its start, and its length does not fit a fixed VHD");
    }
    let size = len - SECTOR;
    sink.start(DiskType::Fixed, size)?;
    sink.write_at(0, &first)?;
    let mut buf = vec![0u8; 1 << 20];
    while s.pos < size {
        let n = ((size - s.pos) as usize).min(buf.len());
        let at = s.pos;
        s.exact(&mut buf[..n])?;
        sink.write_at(at, &buf[..n])?;
        sink.progress(s.pos)?;
    }
    let mut footer = [0u8; 512];
    s.exact(&mut footer)?;
    let (ty, declared, _) = parse_footer(&footer)?;
    if ty != DiskType::Fixed || declared != size {
        return bad("the footer of a fixed VHD must say fixed and its size");
    }
    Ok((ty, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A sink that keeps the bytes written, for checks.
    #[derive(Default)]
    struct Mem {
        started: Option<(DiskType, u64)>,
        bytes: BTreeMap<u64, u8>,
    }

    impl Sink for Mem {
        fn start(&mut self, ty: DiskType, size: u64) -> io::Result<()> {
            self.started = Some((ty, size));
            Ok(())
        }
        fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            for (i, &b) in data.iter().enumerate() {
                self.bytes.insert(offset + i as u64, b);
            }
            Ok(())
        }
    }

    fn stream(layout: &Layout, block: impl Fn(u64) -> Vec<u8>) -> Vec<u8> {
        let mut out = layout.head();
        for &i in &layout.blocks {
            out.extend_from_slice(&Layout::bitmap());
            let mut b = block(i);
            b.resize(BLOCK_SIZE as usize, 0);
            out.extend_from_slice(&b);
        }
        out.extend_from_slice(&layout.footer());
        assert_eq!(out.len() as u64, layout.total_len());
        out
    }

    #[test]
    fn geometry_follows_the_spec() {
        // 10 GiB: 63 sectors per track, 16 heads (qemu rounds the cylinders up: 20806).
        assert_eq!(geometry(10 << 30), (20805, 16, 63));
        // 20 MiB: 17 sectors per track, at least 4 heads.
        assert_eq!(geometry(20 << 20), (602, 4, 17));
        assert_eq!(geometry(4 << 40), (65535, 16, 255));
    }

    #[test]
    fn a_written_dynamic_vhd_reads_back() {
        let layout = Layout {
            size: 8 << 20,
            uuid: [7; 16],
            timestamp: timestamp(1_700_000_000),
            blocks: vec![1, 3],
            parent: None,
        };
        let bytes = stream(&layout, |i| vec![i as u8 + 1; 100]);
        let footer = layout.footer();
        assert_eq!(&bytes[..512], &footer[..]);
        assert_eq!(&bytes[bytes.len() - 512..], &footer[..]);
        assert_eq!(parse_footer(&footer).unwrap(), (DiskType::Dynamic, 8 << 20, 512));
        let mut sink = Mem::default();
        let (ty, size) = read(&bytes[..], None, &mut sink).unwrap();
        assert_eq!((ty, size), (DiskType::Dynamic, 8 << 20));
        assert_eq!(sink.bytes.len(), 2 * BLOCK_SIZE as usize);
        assert_eq!(sink.bytes[&(2 << 20)], 2);
        assert_eq!(sink.bytes[&((6 << 20) + 99)], 4);
        assert_eq!(sink.bytes[&((6 << 20) + 100)], 0);
    }

    #[test]
    fn a_differencing_vhd_writes_only_its_sectors() {
        let parent = Parent { uuid: [1; 16], timestamp: 5, name: "base.vhd".into() };
        let layout = Layout { size: 4 << 20, uuid: [2; 16], timestamp: 9, blocks: vec![0], parent: Some(parent) };
        let mut bytes = stream(&layout, |_| vec![0xAB; 1024]);
        // Only the second sector of block 0 is present.
        let at = layout.first_block() as usize;
        bytes[at..at + 512].fill(0);
        bytes[at] = 0x40;
        let mut sink = Mem::default();
        read(&bytes[..], None, &mut sink).unwrap();
        assert_eq!(sink.started, Some((DiskType::Differencing, 4 << 20)));
        assert_eq!(sink.bytes.keys().next(), Some(&512));
        assert_eq!(sink.bytes.len(), 512);
        let header = &layout.head()[512..1536];
        assert_eq!(&header[40..56], &[1; 16]);
        assert_eq!(&header[64..68], &[0, b'b', 0, b'a']);
    }

    #[test]
    fn a_fixed_vhd_needs_its_length() {
        let layout = Layout { size: 1 << 20, uuid: [3; 16], timestamp: 0, blocks: vec![], parent: None };
        let mut footer = layout.footer();
        footer[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
        footer[60..64].copy_from_slice(&2u32.to_be_bytes());
        let sum = checksum(&footer, 64);
        footer[64..68].copy_from_slice(&sum.to_be_bytes());
        let mut bytes = vec![0x11u8; 1 << 20];
        bytes.extend_from_slice(&footer);
        let mut sink = Mem::default();
        let got = read(&bytes[..], Some(bytes.len() as u64), &mut sink).unwrap();
        assert_eq!(got, (DiskType::Fixed, 1 << 20));
        assert_eq!(sink.bytes.len(), 1 << 20);
        assert!(matches!(read(&bytes[..], None, &mut Mem::default()), Err(Error::Format(_))));
    }

    #[test]
    fn damage_is_refused() {
        let layout = Layout { size: 4 << 20, uuid: [7; 16], timestamp: 1, blocks: vec![0], parent: None };
        let good = stream(&layout, |_| vec![1; 10]);
        let mut bad_sum = good.clone();
        bad_sum[40] ^= 1;
        assert!(read(&bad_sum[..], None, &mut Mem::default()).is_err());
        let short = &good[..good.len() - 600_000];
        let e = read(short, None, &mut Mem::default()).unwrap_err();
        assert!(e.to_string().contains("ends early"), "{e}");
        assert!(read(&b"not a vhd at all"[..], None, &mut Mem::default()).is_err());
    }
}
