//! Operating-system helpers of the benchmarks: child processes stopped by
//! pid, temporary directories, `/proc` readings and the machine's
//! description.

use std::{
    io::Read as _,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};

/// Time a child gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// A child process that is stopped by its pid when dropped: SIGTERM, then
/// SIGKILL after a grace period.
pub struct ChildProcess {
    child: Child,
    name: String,
}

impl ChildProcess {
    /// Starts `command`. The child gets SIGTERM when xtask's main thread
    /// dies, so an interrupted benchmark leaves nothing running.
    ///
    /// Call it from the main thread only: the kernel sends that signal when
    /// the thread that forked the child exits, not the process.
    pub fn spawn(name: &str, command: &mut Command) -> anyhow::Result<Self> {
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and calls only
        // prctl and getppid, which are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::other("parent exited during start"));
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the child to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("{} did not exit within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit; kills the child if it is still
    /// running after the grace period.
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.exited() {
            return Ok(status);
        }
        // SAFETY: signals our own child, by the pid we got when starting it.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        match self.wait(STOP_GRACE) {
            Ok(status) => Ok(status),
            Err(_) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "{} (pid {}) ignored SIGTERM for {STOP_GRACE:?} and was killed",
                    self.name,
                    self.child.id()
                )
            }
        }
    }

    /// Reads what is left of the child's piped standard output.
    pub fn read_stdout(&mut self) -> anyhow::Result<String> {
        let mut output = String::new();
        if let Some(stdout) = self.child.stdout.as_mut() {
            stdout
                .read_to_string(&mut output)
                .with_context(|| format!("cannot read the output of {}", self.name))?;
        }
        Ok(output)
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("bench: {error:#}");
        }
    }
}

/// Runs a command that stops by itself (wrk, openssl), kills it if it runs
/// past `timeout`, and returns its standard output.
pub fn run_bounded(name: &str, command: &mut Command, timeout: Duration) -> anyhow::Result<String> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut process = ChildProcess::spawn(name, command)?;
    // Both outputs stay far below the pipe capacity, so waiting before
    // reading cannot block the child.
    let status = process.wait(timeout)?;
    let output = process.read_stdout()?;
    if !status.success() {
        let mut errors = String::new();
        if let Some(stderr) = process.child.stderr.as_mut() {
            let _ = stderr.read_to_string(&mut errors);
        }
        bail!("{name} failed ({status}): {}", errors.trim());
    }
    Ok(output)
}

/// A temporary directory, removed with its contents when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a new directory, mode 0700, under the system's temporary
    /// directory.
    pub fn new(label: &str) -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt as _;

        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "ztapi-bench-{}-{label}-{stamp}",
            std::process::id()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// User plus system CPU time of a process and all its threads, in seconds,
/// from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name in field 2 may contain spaces, so fields are counted
    // from its closing parenthesis: field 3 (state) is the first after it,
    // utime is field 14 and stime field 15.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("unexpected format of {path}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("unexpected format of {path}"))
    };
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok(total as f64 / ticks_per_second.max(1) as f64)
}

/// Resident memory of a process in KiB (`VmRSS` of `/proc/PID/status`).
pub fn resident_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS line in {path}"))
}

/// Raises this process's open-file limit towards `wanted`, raising the
/// hard limit too where the process may, so one process can hold thousands
/// of connections. Children inherit the limit. Returns the soft limit now
/// in force, which is below `wanted` when the hard limit cannot be raised
/// (a container without `CAP_SYS_RESOURCE`).
pub fn raise_open_files_limit(wanted: u64) -> anyhow::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE) failed");
    }
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max.max(wanted),
    };
    // SAFETY: setrlimit reads one valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(wanted);
    }
    let capped = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot raise the open-file limit to {}", limit.rlim_max));
    }
    Ok(limit.rlim_max)
}

/// Pids of ztapid processes running on the node that this run did not
/// start: their probes would add to every figure.
pub fn other_daemons() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "ztapid")
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// The machine the figures came from.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Machine {
    /// CPUs this process may run on, as `nproc` prints.
    pub cpus: usize,
    pub kernel: String,
    pub cpu_model: String,
    /// `/proc/loadavg` when the run started: other work on the machine
    /// makes the figures noisier.
    pub load_average: String,
    pub openssl: String,
}

impl Machine {
    pub fn read() -> Self {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|text| text.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned())
        };
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|line| line.strip_prefix("model name"))
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            kernel: read("/proc/sys/kernel/osrelease"),
            cpu_model,
            load_average: read("/proc/loadavg"),
            openssl: openssl::version::version().to_owned(),
        }
    }
}
