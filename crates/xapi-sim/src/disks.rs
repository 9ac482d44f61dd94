//! Disk contents: the bytes behind every VDI, in a sparse store of 2 MiB
//! blocks (VHD's block size) keyed by VDI uuid. A block never written reads
//! as zeros and takes no space; an all-zero block is never stored.
//!
//! Blocks are immutable and shared: a snapshot, clone or copy gets the same
//! blocks (`Arc`s), and a later write to either disk replaces the block in
//! that disk only (copy-on-write), as a VHD chain shares its parent's data.
//! A block is freed when the last disk holding it lets it go.
//!
//! Without `--state` blocks live in memory. With it they are files beside
//! the state file (`FILE.disks/blocks/<id>`), and each disk has a map file
//! (`FILE.disks/<uuid>.map`: block index to block id) rewritten atomically
//! by [`Disks::flush`] after its new blocks are synced, so a disk's durable
//! contents are always a set of complete blocks. A map is written before
//! the database change that makes it visible (an import's task completion,
//! a snapshot's new VDI) is journalled, and removed only after the
//! destruction of its VDI is ([`Disks::after_commit`]); a crash in between
//! leaves maps or blocks nobody refers to, which [`Disks::open`] and
//! [`Disks::keep_only`] sweep at the next start.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bytes per block: a VHD data block, so VHD exports map blocks one to one.
pub const BLOCK: usize = 2 << 20;
const BLOCK_U64: u64 = BLOCK as u64;

/// Zeros for unwritten blocks.
static ZEROS: [u8; BLOCK] = [0; BLOCK];

/// A block of zeros, shared.
pub fn zeros(len: usize) -> Bytes {
    Bytes::from_static(&ZEROS[..len.min(BLOCK)])
}

/// One stored block: its bytes up to the last non-zero one (the rest of
/// the block reads as zeros).
pub struct Block {
    data: Data,
    /// Whether the block's file is known to be on stable storage.
    synced: AtomicBool,
    /// Cleared when the store goes away: files then stay for the next start.
    live: Arc<AtomicBool>,
}

enum Data {
    Mem(Bytes),
    File { id: u64, path: PathBuf },
}

impl Block {
    /// The stored bytes (at most [`BLOCK`]); the block is these followed by zeros.
    pub fn bytes(&self) -> io::Result<Bytes> {
        match &self.data {
            Data::Mem(b) => Ok(b.clone()),
            Data::File { path, .. } => {
                let mut v = Vec::with_capacity(BLOCK);
                File::open(path)?.take(BLOCK_U64).read_to_end(&mut v)?;
                Ok(Bytes::from(v))
            }
        }
    }

    /// The whole block, zeros included.
    pub fn full(&self) -> io::Result<Vec<u8>> {
        let mut v = self.bytes()?.to_vec();
        v.resize(BLOCK, 0);
        Ok(v)
    }

    fn id(&self) -> Option<u64> {
        match &self.data {
            Data::Mem(_) => None,
            Data::File { id, .. } => Some(*id),
        }
    }

    fn sync(&self) -> io::Result<()> {
        if let Data::File { path, .. } = &self.data {
            if !self.synced.load(Ordering::Acquire) {
                File::open(path)?.sync_data()?;
                self.synced.store(true, Ordering::Release);
            }
        }
        Ok(())
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if let Data::File { path, .. } = &self.data {
            if self.live.load(Ordering::Acquire) {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// The blocks of one disk, by index.
pub type BlockMap = BTreeMap<u64, Arc<Block>>;

#[derive(Default)]
struct Disk {
    blocks: BlockMap,
    /// Blocks replaced since the map was last written: the durable map may
    /// still name them, so their files stay until the next flush.
    retired: Vec<Arc<Block>>,
}

#[derive(Default)]
struct Inner {
    disks: HashMap<String, Disk>,
    /// Disks whose VDIs are destroyed in a change not yet committed.
    doomed: Vec<(String, Disk)>,
    next_id: u64,
}

struct Shared {
    /// `FILE.disks` with `--state`; `None` keeps blocks in memory.
    dir: Option<PathBuf>,
    inner: Mutex<Inner>,
    live: Arc<AtomicBool>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.live.store(false, Ordering::Release);
    }
}

/// The store of every disk's contents. Cloning is cheap and shares it.
#[derive(Clone)]
pub struct Disks(Arc<Shared>);

fn map_name(uuid: &str) -> String {
    format!("{uuid}.map")
}

/// A uuid safe to use as a file name (the store's keys are VDI uuids).
fn safe_key(uuid: &str) -> bool {
    !uuid.is_empty() && uuid.len() <= 64 && uuid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The store directory beside a state file.
pub fn dir_for_state(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".disks");
    PathBuf::from(p)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Trims trailing zeros: what a block stores.
fn trimmed(mut content: Vec<u8>) -> Vec<u8> {
    let end = content.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    content.truncate(end);
    content
}

impl Disks {
    /// A store in memory.
    pub fn memory() -> Disks {
        Disks(Arc::new(Shared {
            dir: None,
            inner: Mutex::new(Inner::default()),
            live: Arc::new(AtomicBool::new(true)),
        }))
    }

    /// Opens (creating it if needed) the store in `dir`, loading every map
    /// and deleting block files no map names.
    pub fn open(dir: &Path) -> io::Result<Disks> {
        let blocks_dir = dir.join("blocks");
        fs::create_dir_all(&blocks_dir)?;
        let live = Arc::new(AtomicBool::new(true));
        let mut on_disk: HashMap<u64, PathBuf> = HashMap::new();
        let mut next_id = 1u64;
        for e in fs::read_dir(&blocks_dir)? {
            let path = e?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match u64::from_str_radix(name, 16) {
                Ok(id) if name.len() == 16 => {
                    next_id = next_id.max(id + 1);
                    on_disk.insert(id, path);
                }
                _ => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        let mut shared: HashMap<u64, Arc<Block>> = HashMap::new();
        let mut disks = HashMap::new();
        for e in fs::read_dir(dir)? {
            let path = e?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
                continue;
            }
            let Some(uuid) = name.strip_suffix(".map") else { continue };
            let text = match fs::read_to_string(&path) {
                Ok(t) => t,
                Err(_) => continue,
            };
            let mut disk = Disk::default();
            for line in text.lines().skip(1) {
                let Some((i, id)) = line.split_once(' ') else { continue };
                let (Ok(i), Ok(id)) = (u64::from_str_radix(i, 16), u64::from_str_radix(id, 16)) else { continue };
                let block = match shared.get(&id) {
                    Some(b) => b.clone(),
                    None => {
                        // A block a map names but the disk lost reads as zeros.
                        let Some(p) = on_disk.get(&id) else { continue };
                        let b = Arc::new(Block {
                            data: Data::File { id, path: p.clone() },
                            synced: AtomicBool::new(true),
                            live: live.clone(),
                        });
                        shared.insert(id, b.clone());
                        b
                    }
                };
                disk.blocks.insert(i, block);
            }
            disks.insert(uuid.to_string(), disk);
        }
        for (id, path) in &on_disk {
            if !shared.contains_key(id) {
                let _ = fs::remove_file(path);
            }
        }
        let inner = Inner { disks, doomed: Vec::new(), next_id };
        Ok(Disks(Arc::new(Shared { dir: Some(dir.to_path_buf()), inner: Mutex::new(inner), live })))
    }

    /// Whether blocks are files (with `--state`).
    pub fn is_durable(&self) -> bool {
        self.0.dir.is_some()
    }

    /// Drops the disks of VDIs that no longer exist (a crash between a
    /// map's write and the database change that needed it).
    pub fn keep_only(&self, uuids: &HashSet<String>) {
        let gone: Vec<String> = self.0.inner.lock().disks.keys().filter(|u| !uuids.contains(*u)).cloned().collect();
        for uuid in gone {
            self.remove_now(&uuid);
        }
    }

    fn remove_now(&self, uuid: &str) {
        if let Some(dir) = &self.0.dir {
            let _ = fs::remove_file(dir.join(map_name(uuid)));
            sync_dir(dir);
        }
        let disk = self.0.inner.lock().disks.remove(uuid);
        drop(disk);
    }

    /// The blocks of a disk now: a consistent view that later writes do not change.
    pub fn view(&self, uuid: &str) -> BlockMap {
        self.0.inner.lock().disks.get(uuid).map(|d| d.blocks.clone()).unwrap_or_default()
    }

    /// One block of a disk, if allocated.
    pub fn block(&self, uuid: &str, index: u64) -> Option<Arc<Block>> {
        self.0.inner.lock().disks.get(uuid).and_then(|d| d.blocks.get(&index).cloned())
    }

    /// The number of allocated blocks of a disk.
    pub fn allocated(&self, uuid: &str) -> u64 {
        self.0.inner.lock().disks.get(uuid).map_or(0, |d| d.blocks.len() as u64)
    }

    /// Blocks of `uuid` that are its own, not shared at the same index with
    /// `parent` (its VHD parent): what its VHD file would hold.
    pub fn own_blocks(&self, uuid: &str, parent: Option<&str>) -> u64 {
        let inner = self.0.inner.lock();
        let Some(d) = inner.disks.get(uuid) else { return 0 };
        let p = parent.and_then(|p| inner.disks.get(p));
        d.blocks.iter().filter(|(i, b)| !p.and_then(|p| p.blocks.get(i)).is_some_and(|pb| Arc::ptr_eq(pb, b))).count()
            as u64
    }

    /// Makes `to` hold the same blocks as `from` (shared: a snapshot, clone
    /// or copy), and makes that durable.
    pub fn duplicate(&self, from: &str, to: &str) -> io::Result<()> {
        {
            let mut inner = self.0.inner.lock();
            let blocks = inner.disks.get(from).map(|d| d.blocks.clone()).unwrap_or_default();
            let old = inner.disks.insert(to.to_string(), Disk { blocks, retired: Vec::new() });
            if let Some(old) = old {
                inner.disks.get_mut(to).expect("just inserted").retired.extend(old.blocks.into_values());
            }
        }
        self.flush(to)
    }

    /// Copies `from` onto the existing disk `to` for its first `blocks`
    /// blocks; with `base`, only the blocks of `from` that differ from
    /// `base`'s (VDI.copy's `base` and `into`).
    pub fn copy_onto(&self, from: &str, to: &str, base: Option<&str>, blocks: u64) -> io::Result<()> {
        {
            let mut inner = self.0.inner.lock();
            let src = inner.disks.get(from).map(|d| d.blocks.clone()).unwrap_or_default();
            let base = base.and_then(|b| inner.disks.get(b)).map(|d| d.blocks.clone());
            let dst = inner.disks.entry(to.to_string()).or_default();
            let changed = |i: u64| -> bool {
                match &base {
                    None => true,
                    Some(b) => match (src.get(&i), b.get(&i)) {
                        (Some(x), Some(y)) => !Arc::ptr_eq(x, y),
                        (None, None) => false,
                        _ => true,
                    },
                }
            };
            let mut indices: BTreeSet<u64> = src.keys().copied().collect();
            if base.is_some() {
                indices.extend(base.as_ref().into_iter().flat_map(|b| b.keys().copied()));
            } else {
                indices.extend(dst.blocks.keys().copied());
            }
            for i in indices.into_iter().filter(|&i| i < blocks && changed(i)) {
                let old = match src.get(&i) {
                    Some(b) => dst.blocks.insert(i, b.clone()),
                    None => dst.blocks.remove(&i),
                };
                dst.retired.extend(old);
            }
        }
        self.flush(to)
    }

    /// Forgets a disk whose VDI is being destroyed. Its map goes once that
    /// destruction is committed ([`Disks::after_commit`]).
    pub fn forget(&self, uuid: &str) {
        let mut inner = self.0.inner.lock();
        if let Some(d) = inner.disks.remove(uuid) {
            inner.doomed.push((uuid.to_string(), d));
        }
    }

    /// Called once a database change is durable: the maps of disks
    /// forgotten in it go, and blocks nobody else holds are freed.
    pub fn after_commit(&self) {
        let doomed = std::mem::take(&mut self.0.inner.lock().doomed);
        if doomed.is_empty() {
            return;
        }
        if let Some(dir) = &self.0.dir {
            for (uuid, _) in &doomed {
                let _ = fs::remove_file(dir.join(map_name(uuid)));
            }
            sync_dir(dir);
        }
        drop(doomed);
    }

    /// A new block holding `content` (trimmed, non-empty).
    fn new_block(&self, content: Vec<u8>) -> io::Result<Arc<Block>> {
        let live = self.0.live.clone();
        let Some(dir) = &self.0.dir else {
            return Ok(Arc::new(Block { data: Data::Mem(Bytes::from(content)), synced: AtomicBool::new(true), live }));
        };
        let id = {
            let mut inner = self.0.inner.lock();
            inner.next_id += 1;
            inner.next_id - 1
        };
        let path = dir.join("blocks").join(format!("{id:016x}"));
        let mut f = File::create(&path)?;
        f.write_all(&content)?;
        Ok(Arc::new(Block { data: Data::File { id, path }, synced: AtomicBool::new(false), live }))
    }

    /// Sets block `index` of a disk to `content` (at most [`BLOCK`] bytes,
    /// the rest zeros). Not durable until [`Disks::flush`].
    pub fn put_block(&self, uuid: &str, index: u64, content: Vec<u8>) -> io::Result<()> {
        debug_assert!(content.len() <= BLOCK);
        let content = trimmed(content);
        let block = if content.is_empty() { None } else { Some(self.new_block(content)?) };
        let mut inner = self.0.inner.lock();
        let disk = inner.disks.entry(uuid.to_string()).or_default();
        let old = match block {
            Some(b) => disk.blocks.insert(index, b),
            None => disk.blocks.remove(&index),
        };
        disk.retired.extend(old);
        Ok(())
    }

    /// Unallocates the blocks of a disk at these indices.
    pub fn clear_blocks(&self, uuid: &str, indices: impl IntoIterator<Item = u64>) {
        let mut inner = self.0.inner.lock();
        if let Some(disk) = inner.disks.get_mut(uuid) {
            for i in indices {
                let old = disk.blocks.remove(&i);
                disk.retired.extend(old);
            }
        }
    }

    /// Makes a disk's contents durable: its new blocks are synced, then its
    /// map is replaced atomically, then the blocks it replaced are let go.
    pub fn flush(&self, uuid: &str) -> io::Result<()> {
        let Some(dir) = &self.0.dir else {
            if let Some(d) = self.0.inner.lock().disks.get_mut(uuid) {
                d.retired.clear();
            }
            return Ok(());
        };
        if !safe_key(uuid) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad disk key {uuid:?}")));
        }
        let blocks = self.view(uuid);
        for b in blocks.values() {
            b.sync()?;
        }
        sync_dir(&dir.join("blocks"));
        let mut text = String::with_capacity(24 + blocks.len() * 24);
        text.push_str("xapi-sim disk map 1\n");
        for (i, b) in &blocks {
            if let Some(id) = b.id() {
                text.push_str(&format!("{i:x} {id:016x}\n"));
            }
        }
        let path = dir.join(map_name(uuid));
        let tmp = dir.join(format!("{}.tmp", map_name(uuid)));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(dir);
        let retired = {
            let mut inner = self.0.inner.lock();
            let d = inner.disks.get_mut(uuid);
            d.map(|d| std::mem::take(&mut d.retired)).unwrap_or_default()
        };
        drop(retired);
        Ok(())
    }

    /// A writer into a disk of `size` bytes that changes only what it writes.
    pub fn writer(&self, uuid: &str, size: u64) -> Writer {
        Writer {
            disks: self.clone(),
            uuid: uuid.to_string(),
            size,
            replace: None,
            pending: None,
            written: BTreeSet::new(),
        }
    }

    /// A writer whose writes replace the disk's first `image` bytes: what it
    /// leaves unwritten there reads as zeros afterwards (a whole image).
    pub fn replacing_writer(&self, uuid: &str, size: u64, image: u64) -> Writer {
        Writer { replace: Some(image.min(size)), ..self.writer(uuid, size) }
    }

    /// Reads `len` bytes at `offset` (zeros where nothing is written).
    pub fn read_at(&self, uuid: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut pos = offset;
        while out.len() < len {
            let (i, within) = (pos / BLOCK_U64, (pos % BLOCK_U64) as usize);
            let take = (BLOCK - within).min(len - out.len());
            let stored = match self.block(uuid, i) {
                Some(b) => b.bytes()?,
                None => Bytes::new(),
            };
            let end = (within + take).min(stored.len());
            if within < end {
                out.extend_from_slice(&stored[within..end]);
            }
            out.resize(out.len() + (take - end.saturating_sub(within)), 0);
            pos += take as u64;
        }
        Ok(out)
    }
}

/// A block being assembled by a [`Writer`].
struct Pending {
    index: u64,
    buf: Vec<u8>,
    /// Byte ranges of `buf` written, in order of writing.
    ranges: Vec<(usize, usize)>,
}

impl Pending {
    fn covers(&self, len: usize) -> bool {
        let mut r = self.ranges.clone();
        r.sort_unstable();
        let mut reach = 0;
        for (s, e) in r {
            if s > reach {
                return false;
            }
            reach = reach.max(e);
        }
        reach >= len
    }
}

/// Writes into a disk at any offsets, a block at a time: a block not
/// wholly overwritten keeps the rest of its old contents, unless the
/// writer replaces the whole image. Call [`Writer::finish`] to make the
/// writes durable.
pub struct Writer {
    disks: Disks,
    uuid: String,
    size: u64,
    /// With a replacing writer, the image's length.
    replace: Option<u64>,
    pending: Option<Pending>,
    /// Indices of the blocks written.
    written: BTreeSet<u64>,
}

impl Writer {
    /// The disk's size: writes beyond it fail.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Writes `data` at `offset`.
    pub fn write_at(&mut self, offset: u64, mut data: &[u8]) -> io::Result<()> {
        let end = offset.checked_add(data.len() as u64).filter(|&e| e <= self.size);
        if end.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a write at {offset} of {} bytes goes past the end of the disk ({})", data.len(), self.size),
            ));
        }
        let mut pos = offset;
        while !data.is_empty() {
            let (i, within) = (pos / BLOCK_U64, (pos % BLOCK_U64) as usize);
            if self.pending.as_ref().is_some_and(|p| p.index != i) {
                self.commit_pending()?;
            }
            let p = self.pending.get_or_insert_with(|| Pending { index: i, buf: vec![0; BLOCK], ranges: Vec::new() });
            let take = (BLOCK - within).min(data.len());
            p.buf[within..within + take].copy_from_slice(&data[..take]);
            match p.ranges.last_mut() {
                Some(last) if last.1 == within => last.1 = within + take,
                _ => p.ranges.push((within, within + take)),
            }
            data = &data[take..];
            pos += take as u64;
        }
        Ok(())
    }

    /// The length of block `i` within the disk.
    fn block_len(&self, i: u64) -> usize {
        (self.size.saturating_sub(i * BLOCK_U64)).min(BLOCK_U64) as usize
    }

    /// Whether block `i` lies wholly inside the image a replacing writer replaces.
    fn replaced(&self, i: u64) -> bool {
        self.replace.is_some_and(|image| (i + 1) * BLOCK_U64 <= image)
    }

    fn commit_pending(&mut self) -> io::Result<()> {
        let Some(mut p) = self.pending.take() else { return Ok(()) };
        if !self.replaced(p.index) && !p.covers(self.block_len(p.index)) {
            // Keep what was there outside the ranges written.
            let mut merged = match self.disks.block(&self.uuid, p.index) {
                Some(b) => b.full()?,
                None => vec![0; BLOCK],
            };
            for &(s, e) in &p.ranges {
                merged[s..e].copy_from_slice(&p.buf[s..e]);
            }
            p.buf = merged;
        }
        self.written.insert(p.index);
        self.disks.put_block(&self.uuid, p.index, p.buf)
    }

    /// Finishes the writes and makes them durable. A replacing writer
    /// first clears the blocks of the image it never wrote.
    pub fn finish(mut self) -> io::Result<()> {
        self.commit_pending()?;
        if self.replace.is_some() {
            let stale: Vec<u64> = self
                .disks
                .view(&self.uuid)
                .keys()
                .copied()
                .filter(|&i| self.replaced(i) && !self.written.contains(&i))
                .collect();
            self.disks.clear_blocks(&self.uuid, stale);
        }
        self.disks.flush(&self.uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xapi-sim-disks-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn pattern(seed: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1).collect()
    }

    #[test]
    fn unwritten_blocks_read_as_zeros_and_zero_blocks_take_no_space() {
        let d = Disks::memory();
        assert_eq!(d.read_at("a", 0, 10).unwrap(), vec![0; 10]);
        let mut w = d.writer("a", 8 * BLOCK_U64);
        w.write_at(BLOCK_U64 + 5, b"hello").unwrap();
        w.write_at(3 * BLOCK_U64, &vec![0; BLOCK]).unwrap();
        w.finish().unwrap();
        assert_eq!(d.allocated("a"), 1);
        assert_eq!(d.read_at("a", BLOCK_U64 + 3, 9).unwrap(), b"\0\0hello\0\0");
        // A block's storage ends at its last non-zero byte.
        assert_eq!(d.block("a", 1).unwrap().bytes().unwrap().len(), 10);
    }

    #[test]
    fn writes_past_the_end_fail() {
        let d = Disks::memory();
        let mut w = d.writer("a", 100);
        assert!(w.write_at(90, &[1; 10]).is_ok());
        assert!(w.write_at(95, &[1; 10]).is_err());
        assert!(w.write_at(u64::MAX, &[1]).is_err());
    }

    #[test]
    fn partial_writes_keep_the_rest_of_the_block() {
        let d = Disks::memory();
        let mut w = d.writer("a", 4 * BLOCK_U64);
        w.write_at(0, &pattern(1, BLOCK)).unwrap();
        w.finish().unwrap();
        let mut w = d.writer("a", 4 * BLOCK_U64);
        w.write_at(100, &[0xAA; 50]).unwrap();
        w.finish().unwrap();
        let mut want = pattern(1, BLOCK);
        want[100..150].fill(0xAA);
        assert_eq!(d.read_at("a", 0, BLOCK).unwrap(), want);
        // A replacing write (a whole image) clears what it did not write
        // within the image, and leaves the rest of the disk.
        let mut w = d.writer("a", 4 * BLOCK_U64);
        w.write_at(3 * BLOCK_U64, b"beyond").unwrap();
        w.finish().unwrap();
        let mut w = d.replacing_writer("a", 4 * BLOCK_U64, 3 * BLOCK_U64);
        w.write_at(2 * BLOCK_U64 + 10, b"x").unwrap();
        w.finish().unwrap();
        assert_eq!(d.read_at("a", 0, 200).unwrap(), vec![0; 200]);
        assert_eq!(d.read_at("a", 2 * BLOCK_U64, 12).unwrap(), b"\0\0\0\0\0\0\0\0\0\0x\0");
        assert_eq!(d.read_at("a", 3 * BLOCK_U64, 6).unwrap(), b"beyond");
        assert_eq!(d.allocated("a"), 2);
    }

    #[test]
    fn duplicates_share_blocks_until_written() {
        let d = Disks::memory();
        let mut w = d.writer("a", 4 * BLOCK_U64);
        w.write_at(0, &pattern(1, 2 * BLOCK)).unwrap();
        w.finish().unwrap();
        d.duplicate("a", "snap").unwrap();
        assert!(Arc::ptr_eq(&d.block("a", 0).unwrap(), &d.block("snap", 0).unwrap()));
        assert_eq!(d.own_blocks("a", Some("snap")), 0);
        // Copy on write: the disk gets a new block, the snapshot keeps the old one.
        let mut w = d.writer("a", 4 * BLOCK_U64);
        w.write_at(BLOCK_U64, b"changed").unwrap();
        w.finish().unwrap();
        assert_eq!(d.own_blocks("a", Some("snap")), 1);
        assert_eq!(d.read_at("snap", BLOCK_U64, 7).unwrap(), pattern(1, 2 * BLOCK)[BLOCK..BLOCK + 7].to_vec());
        assert_eq!(d.read_at("a", BLOCK_U64, 7).unwrap(), b"changed");
        assert!(Arc::ptr_eq(&d.block("a", 0).unwrap(), &d.block("snap", 0).unwrap()));
        // Destroying one leaves the other whole.
        d.forget("a");
        d.after_commit();
        assert_eq!(d.allocated("a"), 0);
        assert_eq!(d.read_at("snap", 0, BLOCK).unwrap(), pattern(1, BLOCK));
    }

    #[test]
    fn copy_onto_with_a_base_moves_only_changed_blocks() {
        let d = Disks::memory();
        let mut w = d.writer("base", 3 * BLOCK_U64);
        w.write_at(0, &pattern(1, 3 * BLOCK)).unwrap();
        w.finish().unwrap();
        d.duplicate("base", "leaf").unwrap();
        let mut w = d.writer("leaf", 3 * BLOCK_U64);
        w.write_at(BLOCK_U64, &[7; 10]).unwrap();
        w.finish().unwrap();
        // The target already has the base's data but with block 2 changed locally.
        let mut w = d.writer("target", 3 * BLOCK_U64);
        w.write_at(0, &pattern(1, 3 * BLOCK)).unwrap();
        w.write_at(2 * BLOCK_U64, &[9; 4]).unwrap();
        w.finish().unwrap();
        d.copy_onto("leaf", "target", Some("base"), 3).unwrap();
        assert_eq!(d.read_at("target", BLOCK_U64, 10).unwrap(), vec![7; 10]);
        assert_eq!(d.read_at("target", 2 * BLOCK_U64, 4).unwrap(), vec![9; 4]);
        d.copy_onto("leaf", "target", None, 3).unwrap();
        assert_eq!(d.read_at("target", 2 * BLOCK_U64, 4).unwrap(), pattern(1, 3 * BLOCK)[2 * BLOCK..][..4].to_vec());
    }

    #[test]
    fn files_survive_a_restart_and_unreferenced_ones_are_swept() {
        let dir = tempdir("restart");
        {
            let d = Disks::open(&dir).unwrap();
            assert!(d.is_durable());
            let mut w = d.writer("vdi-a", 4 * BLOCK_U64);
            w.write_at(0, &pattern(3, BLOCK + 100)).unwrap();
            w.finish().unwrap();
            d.duplicate("vdi-a", "vdi-b").unwrap();
            // Written but never flushed: not part of any durable map.
            let mut w = d.writer("vdi-c", BLOCK_U64);
            w.write_at(0, b"lost").unwrap();
            w.commit_pending().unwrap();
            std::mem::forget(w);
        }
        let d = Disks::open(&dir).unwrap();
        assert_eq!(d.read_at("vdi-a", 0, BLOCK + 100).unwrap(), pattern(3, BLOCK + 100));
        assert!(Arc::ptr_eq(&d.block("vdi-a", 1).unwrap(), &d.block("vdi-b", 1).unwrap()));
        assert_eq!(d.allocated("vdi-c"), 0);
        assert_eq!(fs::read_dir(dir.join("blocks")).unwrap().count(), 2);
        // A VDI the database no longer has loses its disk at the next start.
        d.keep_only(&["vdi-b".to_string()].into_iter().collect());
        assert_eq!(fs::read_dir(dir.join("blocks")).unwrap().count(), 2);
        d.forget("vdi-b");
        assert_eq!(fs::read_dir(dir.join("blocks")).unwrap().count(), 2, "kept until the destroy is committed");
        d.after_commit();
        assert_eq!(fs::read_dir(dir.join("blocks")).unwrap().count(), 0);
        assert!(!dir.join("vdi-b.map").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn replaced_blocks_stay_on_disk_until_the_map_is_rewritten() {
        let dir = tempdir("replace");
        let d = Disks::open(&dir).unwrap();
        let mut w = d.writer("v", BLOCK_U64);
        w.write_at(0, b"old").unwrap();
        w.finish().unwrap();
        let mut w = d.writer("v", BLOCK_U64);
        w.write_at(0, b"new").unwrap();
        w.commit_pending().unwrap();
        // The durable map still names the old block: its file must remain.
        assert_eq!(fs::read_dir(dir.join("blocks")).unwrap().count(), 2);
        w.finish().unwrap();
        assert_eq!(fs::read_dir(dir.join("blocks")).unwrap().count(), 1);
        drop(d);
        let d = Disks::open(&dir).unwrap();
        assert_eq!(d.read_at("v", 0, 3).unwrap(), b"new");
        let _ = fs::remove_dir_all(&dir);
    }
}
