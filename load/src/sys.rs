//! Linux process figures from /proc, and the open-files limit.

use std::fs;

/// A process's resident memory (VmRSS) and its peak (VmHWM), in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A process's CPU time (user + system) in microseconds.
pub fn cpu_micros(pid: u32) -> Option<u64> {
    let (user, system) = stat_times(&format!("/proc/{pid}/stat"))?;
    Some(user + system)
}

/// The calling thread's CPU time, (user, system) in microseconds.
pub fn thread_cpu_micros() -> Option<(u64, u64)> {
    stat_times("/proc/thread-self/stat")
}

/// utime and stime of a /proc `stat` file, in microseconds.
fn stat_times(path: &str) -> Option<(u64, u64)> {
    let stat = fs::read_to_string(path).ok()?;
    // The command name may hold spaces and parentheses; the fields start after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime(11) stime(12).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let micros = |ticks: u64| ticks * 1_000_000 / clock_ticks();
    Some((micros(utime), micros(stime)))
}

pub fn own_pid() -> u32 {
    std::process::id()
}

/// Clock ticks per second, the unit of /proc/PID/stat's times.
fn clock_ticks() -> u64 {
    imp::clock_ticks().unwrap_or(100)
}

/// Raise the soft open-files limit to at least `want` (up to the hard limit).
/// Returns the soft limit now in force, if it could be read.
pub fn raise_open_files(want: u64) -> Option<u64> {
    imp::raise_open_files(want)
}

#[cfg(unix)]
mod imp {
    pub fn clock_ticks() -> Option<u64> {
        // SAFETY: sysconf takes no pointers; it only reads a setting of the C library.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        u64::try_from(ticks).ok().filter(|&t| t > 0)
    }

    pub fn raise_open_files(want: u64) -> Option<u64> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `struct rlimit` through the pointer, and `limit` is one,
        // alive and exclusively borrowed for the call.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        let current = to_u64(limit.rlim_cur);
        if current >= want {
            return Some(current);
        }
        let raised = libc::rlimit {
            // Not above the hard limit: the kernel refuses that to unprivileged processes.
            rlim_cur: limit.rlim_max.min(from_u64(want)),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads one `struct rlimit` through the pointer, and `raised` is
        // one, alive for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            Some(to_u64(raised.rlim_cur))
        } else {
            Some(current)
        }
    }

    /// `rlim_t` is 64 bits on most targets, 32 on some; an unlimited value stays unlimited.
    // The same type where `rlim_t` is 64 bits, a conversion where it is not.
    #[allow(clippy::useless_conversion)]
    fn to_u64(value: libc::rlim_t) -> u64 {
        u64::try_from(value).unwrap_or(u64::MAX)
    }

    fn from_u64(value: u64) -> libc::rlim_t {
        libc::rlim_t::try_from(value).unwrap_or(libc::rlim_t::MAX)
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn clock_ticks() -> Option<u64> {
        None
    }

    pub fn raise_open_files(_want: u64) -> Option<u64> {
        None
    }
}
