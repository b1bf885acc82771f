//! Giving back memory that only start-up used, so that an idle server holds what serving needs.
//!
//! Start-up (migrations, settings, bootstrap) runs code that serving never runs again, and the
//! kernel maps it in around every page touched; it counts in the resident set until the process
//! exits. Once the server listens, the pages of our own executable's code are unmapped
//! (`madvise(MADV_DONTNEED)`: they stay in the page cache and fault back in, cheaply, when used)
//! and the allocator returns its free heap pages (`malloc_trim`).

/// Waits (at most two seconds) until the server at `address` answers `GET /health`, i.e. its
/// workers have started.
pub fn wait_until_serving(address: std::net::SocketAddr) {
    use std::io::{Read as _, Write as _};
    let timeout = std::time::Duration::from_secs(2);
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect_timeout(&address, timeout) {
            let _ = s.set_read_timeout(Some(timeout));
            let sent = s
                .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            let mut answer = Vec::new();
            if sent.is_ok()
                && s.read_to_end(&mut answer).is_ok()
                && answer.starts_with(b"HTTP/1.1 200")
            {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Releases start-up memory; returns how many bytes of mappings were dropped (0 where the
/// platform has no such notion).
pub fn release_startup_memory() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free pages of the heap to the system.
        unsafe {
            libc::malloc_trim(0);
        }
        linux::drop_clean_code_pages()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        0
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    /// Drops the resident pages of the executable's read-only mappings that hold no private
    /// (written) page: code and constants. Mappings with anonymous pages (relocated data made
    /// read-only afterwards) are left alone, since dropping those would lose the relocations.
    pub fn drop_clean_code_pages() -> usize {
        let Ok(exe) = std::env::current_exe() else {
            return 0;
        };
        let Some(exe) = exe.to_str().map(str::to_owned) else {
            return 0;
        };
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return 0;
        };
        let mut dropped = 0;
        for m in mappings(&smaps) {
            if m.path != exe || m.writable || m.anonymous_kb != 0 {
                continue;
            }
            let len = m.end - m.start;
            // SAFETY: the range is a whole mapping of our executable that is read-only and has
            // no private page, so every page is a clean copy of the file: MADV_DONTNEED only
            // unmaps it, and the next access maps the same bytes back from the page cache.
            let rc =
                unsafe { libc::madvise(m.start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            if rc == 0 {
                dropped += m.rss_kb * 1024;
            }
        }
        dropped
    }

    pub(super) struct Mapping<'a> {
        pub start: usize,
        pub end: usize,
        pub writable: bool,
        pub path: &'a str,
        pub rss_kb: usize,
        pub anonymous_kb: usize,
    }

    /// Parses `/proc/self/smaps`: a header line per mapping, then `Key: value kB` lines.
    pub(super) fn mappings(smaps: &str) -> Vec<Mapping<'_>> {
        let mut out: Vec<Mapping<'_>> = Vec::new();
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let Some(first) = fields.next() else {
                continue;
            };
            if let Some((start, end)) = first.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                let perms = fields.next().unwrap_or("");
                let path = fields.nth(3).unwrap_or("");
                out.push(Mapping {
                    start,
                    end,
                    writable: perms.contains('w'),
                    path,
                    rss_kb: 0,
                    // Unknown until read: treated as unsafe to drop.
                    anonymous_kb: usize::MAX,
                });
                continue;
            }
            let value = fields.next().and_then(|v| v.parse::<usize>().ok());
            if let (Some(m), Some(v)) = (out.last_mut(), value) {
                match first {
                    "Rss:" => m.rss_kb = v,
                    "Anonymous:" => m.anonymous_kb = v,
                    _ => {}
                }
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_smaps_entries() {
            let text = "\
55d0c0000000-55d0c0100000 r-xp 00001000 08:01 42   /srv/fractal-server
Rss:                 512 kB
Anonymous:             0 kB
55d0c0200000-55d0c0201000 r--p 00200000 08:01 42   /srv/fractal-server
Rss:                   4 kB
Anonymous:             4 kB
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
Rss:                   4 kB
Anonymous:             4 kB
";
            let m = mappings(text);
            assert_eq!(m.len(), 3);
            assert_eq!(m[0].path, "/srv/fractal-server");
            assert_eq!(
                (m[0].rss_kb, m[0].anonymous_kb, m[0].writable),
                (512, 0, false)
            );
            assert_eq!(m[0].end - m[0].start, 0x100000);
            assert_eq!(m[1].anonymous_kb, 4);
            assert!(m[2].writable);
            assert_eq!(m[2].path, "");
        }

        #[test]
        fn dropping_code_pages_keeps_the_process_working() {
            // Runs the real thing on the test binary: code must still run afterwards.
            let _ = drop_clean_code_pages();
            let v: Vec<u64> = (0..1000).map(|i| i * i).collect();
            assert_eq!(v.iter().sum::<u64>(), 332_833_500);
        }
    }
}
