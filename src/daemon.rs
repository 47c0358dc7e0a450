//! `bookweek run`: the long-running process. It wires the parts together and
//! holds no business rules: a scheduler (the digest cron and one-shot jobs at
//! every window start and end), a folder watcher that reloads what changed,
//! the HTTP server, and a graceful shutdown.
//!
//! One task owns the loaded site and handles events one at a time, so a
//! reload, a rebuild and a digest never race; the server reads the last
//! published feeds through a watch channel.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use tokio::sync::{mpsc, watch};
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use crate::cli::Now;
use crate::commands::Site;
use crate::commands::digest::{SendLock, send_due};
use crate::config::{self, Config};
use crate::content::{self, Cache};
use crate::feeds;
use crate::mail::{self, Transport};
use crate::model::Catalog;
use crate::publish::write_feeds;
use crate::server::{self, AppState, FeedFile, Published, SiteFile};
use crate::site::{self, Manifest, Reuse};
use crate::state::{State, Subscriber};
use crate::templates::Templates;
use crate::token::Signer;

/// What the event loop reacts to.
#[derive(Debug)]
enum Event {
    /// Files under content/, templates/ or the config file changed.
    Files(Vec<PathBuf>),
    /// A window opened or closed at this time: the feeds change without a
    /// file change.
    Boundary(DateTime<FixedOffset>),
    /// The digest schedule ticked.
    Digest,
    /// A send left deliveries pending (the mail server was unreachable):
    /// try them again.
    Resume,
    /// Time to fetch the Slack threads of books whose window has closed.
    Archive,
    /// A digest was recorded: publish its web page, then say so (its
    /// mails wait for that, so "View in your browser" works at once).
    DigestCreated(std::sync::mpsc::SyncSender<()>),
}

/// How often the daemon looks for books whose threads are due from Slack.
const ARCHIVE_CHECK_EVERY: Duration = Duration::from_secs(300);

/// How long a new digest's mails wait for its web page to be published.
const DIGEST_PAGE_WAIT: Duration = Duration::from_secs(10);

/// How long the daemon waits before resuming deliveries that a send left
/// pending because the mail server was unreachable.
const RESUME_AFTER: Duration = Duration::from_secs(60);

/// The daemon's clock: the real one, shifted so that it read `--now` at
/// start (tests start the daemon "just before" an event).
pub use crate::server::Clock;

fn clock_from(now: Now, tz: chrono_tz::Tz) -> Clock {
    let offset = now.at(tz).signed_duration_since(now.clock);
    Arc::new(move || (Utc::now() + offset).fixed_offset())
}

pub fn run(config_path: Option<&Path>, now: Now) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(crate::commands::EXIT_FATAL);
        }
    };
    let config_path = config_path.map(Path::to_path_buf);
    runtime.block_on(async move {
        match main(config_path, now).await {
            Ok(code) => code,
            Err(e) => {
                tracing::error!("{e:#}");
                ExitCode::from(crate::commands::EXIT_FATAL)
            }
        }
    })
}

/// The loaded inputs, owned by the event loop.
struct Live {
    config_path: Option<PathBuf>,
    watched: Watched,
    config: Config,
    templates: Templates,
    /// The same templates, shared with the server's confirmation mails.
    mail_templates: Arc<std::sync::RwLock<Templates>>,
    cache: Cache,
    content: content::Loaded,
    signer: Signer,
    /// What the last publish made of the site, with the bytes it serves.
    site: Manifest,
}

impl Live {
    fn site(&self) -> Site {
        Site {
            config: self.config.clone(),
            templates: self.templates.clone(),
            content: self.content.clone(),
        }
    }

    /// Re-reads what changed (absolute paths, see [`Watched`]). A broken
    /// config or template keeps the last good one; a broken book keeps its
    /// last good version (the cache and the state database do).
    fn reload(&mut self, changed: &[PathBuf], now: DateTime<FixedOffset>) {
        let config_file = self.watched.config_file.clone();
        let config_changed = changed.contains(&config_file);
        if config_changed {
            let loaded = config::load(&config_file, self.config_path.is_some());
            for p in &loaded.problems {
                tracing::warn!("{p}");
            }
            if loaded.has_errors() {
                tracing::error!("config has errors: keeping the last good one");
            } else {
                self.config = loaded.config;
                tracing::info!(file = %config_file.display(), "config reloaded");
            }
        }
        let templates = absolute(&self.config.settings.paths.templates);
        if config_changed || changed.iter().any(|p| p.starts_with(&templates)) {
            let (templates, problems) = Templates::load(&self.config.settings.paths.templates);
            for p in &problems {
                tracing::error!("{p}");
            }
            if problems.is_empty() {
                if let Ok(mut shared) = self.mail_templates.write() {
                    *shared = templates.clone();
                }
                self.templates = templates;
            } else {
                tracing::error!("templates have errors; keeping the last good ones");
            }
        }
        self.load_content(now);
    }

    fn load_content(&mut self, now: DateTime<FixedOffset>) {
        // The state database keeps the last good version of every book, as
        // for `build` and `once`: a restart still publishes it.
        let mut state = State::open(&self.config.settings.paths.state)
            .map_err(|e| tracing::warn!("{e}; books broken by an edit are kept only in memory"))
            .ok();
        let store = state.as_mut().map(|s| s as &mut dyn content::Store);
        match content::load_cached(&self.config, &mut self.cache, store, now) {
            Ok(mut loaded) => {
                // Images that are not there are left out of pages, feeds
                // and mails.
                let mut images = Vec::new();
                site::assets::resolve(&mut loaded.catalog, &self.config, &mut |p| {
                    images.extend(p);
                });
                loaded.problems.extend(images);
                for p in &loaded.problems {
                    if p.is_error() {
                        tracing::error!("{p}");
                    } else {
                        tracing::warn!("{p}");
                    }
                }
                tracing::info!(
                    books = loaded.catalog.books.len(),
                    reread = self.cache.reread,
                    "content loaded"
                );
                self.content = loaded;
            }
            Err(e) => tracing::error!("{e}; keeping the last good content"),
        }
    }
}

/// What the daemon watches, as absolute paths: the content and templates
/// folders, and exactly the config file. Events for anything else (a log
/// file written beside the config, say) are dropped before they can cause
/// a reload.
#[derive(Debug, Clone)]
struct Watched {
    content: PathBuf,
    templates: PathBuf,
    config_file: PathBuf,
    /// The images (`paths.assets`; inside `content` by default).
    assets: PathBuf,
}

impl Watched {
    fn new(config_file: &Path, config: &Config) -> Self {
        let settings = &config.settings;
        Self {
            content: absolute(&settings.paths.content),
            templates: absolute(&settings.paths.templates),
            config_file: absolute(config_file),
            assets: absolute(config.assets_dir()),
        }
    }

    fn matters(&self, p: &Path) -> bool {
        (p.starts_with(&self.content)
            || p.starts_with(&self.templates)
            || p.starts_with(&self.assets)
            || p == self.config_file)
            && !is_editor_noise(p)
    }
}

/// `p` made absolute against the working folder, without resolving links
/// (notify reports paths under the one it was given).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Builds the feeds and the site at `now`, writes them to the output folder
/// and hands them to the server.
fn publish(live: &mut Live, now: DateTime<FixedOffset>, tx: &watch::Sender<Arc<Published>>) {
    let catalog = &live.content.catalog;
    let (items, rendered) = match feeds::render_all(catalog, &live.config, &live.templates, now) {
        Ok(built) => built,
        Err(e) => {
            tracing::error!("{e}; keeping the last published feeds");
            return;
        }
    };
    for p in &rendered.left_out {
        tracing::error!("{p}");
    }
    // A disk problem is logged; the server still gets the new feeds.
    let changed = match write_feeds(&rendered, &live.config.settings.paths.output) {
        Ok(files) => files.iter().filter(|(_, c)| *c).count(),
        Err(e) => {
            tracing::error!("{e}");
            0
        }
    };
    // A feed whose bytes did not change keeps its compressed bodies.
    // (Cloned first: the server's readers are not held while compressing.)
    let old_feeds = tx.borrow().feeds.clone();
    let feeds = FeedFile::from_rendered_reusing(&rendered, &items, &old_feeds);
    let books = catalog.books.len();
    let previous = tx.borrow().site.clone();
    let site = match publish_site(live, now) {
        Some(files) => Arc::new(SiteFile::map(files, &previous)),
        // A template failed: the pages stay as they were.
        None => previous,
    };
    let published = Published {
        config: Arc::new(live.config.clone()),
        feeds,
        built_at: now,
        books,
        templates: Arc::new(live.templates.clone()),
        site,
    };
    tx.send_replace(Arc::new(published));
    tracing::info!(items = items.len(), files_changed = changed, "published");
}

/// Makes the site's pages and images whose inputs changed since the last
/// publish, writes them to the output folder, and returns every file for
/// the server (`None` when a template fails). The digests' pages come from
/// the state database; what was made is remembered there too, so `once`
/// and a restarted daemon know which files are bookweek's.
fn publish_site(live: &mut Live, now: DateTime<FixedOffset>) -> Option<Vec<site::File>> {
    let state = State::open(&live.config.settings.paths.state)
        .map_err(|e| tracing::error!("{e}; the digests' pages are left as they were"))
        .ok();
    let digests = state
        .as_ref()
        .and_then(|s| {
            s.published_digests()
                .map_err(|e| tracing::error!("cannot read the digests: {e}"))
                .ok()
        })
        .unwrap_or_default();
    let inputs = site::Inputs {
        catalog: &live.content.catalog,
        config: &live.config,
        templates: &live.templates,
        digests: &digests,
        now,
    };
    let out = live.config.settings.paths.output.clone();
    match site::publish(&inputs, &out, &live.site, Reuse::Unchanged, true) {
        Ok((manifest, report)) => {
            for p in &report.problems {
                if p.is_error() {
                    tracing::error!("{p}");
                } else {
                    tracing::warn!("{p}");
                }
            }
            if let Some(state) = &state
                && let Err(e) =
                    state.set_meta(crate::commands::build::MANIFEST, &manifest.to_json())
            {
                tracing::error!("cannot remember the site's files: {e}");
            }
            live.site = manifest;
            tracing::info!(
                pages = report.pages,
                images = report.images,
                rendered = report.rendered,
                written = report.written,
                removed = report.removed,
                "site published"
            );
            Some(live.site.files())
        }
        Err(e) => {
            tracing::error!("{e}; keeping the last published pages");
            None
        }
    }
}

/// One-shot jobs at every future window start and end (recaps need an
/// archive); replaces the previous set.
async fn schedule_boundaries(
    sched: &JobScheduler,
    jobs: &mut Vec<Uuid>,
    catalog: &Catalog,
    now: DateTime<FixedOffset>,
    tx: &mpsc::Sender<Event>,
) {
    for id in jobs.drain(..) {
        let _ = sched.remove(&id).await;
    }
    // Every window's start and end: the feeds change when a window opens
    // or a recap is due, the pages (a book's state) at both.
    let mut times: Vec<DateTime<FixedOffset>> = catalog
        .books
        .windows()
        .flat_map(|(w, _)| [w.start(), w.end()])
        .map(|t| t.fixed_offset())
        .filter(|t| *t > now)
        .collect();
    times.sort();
    times.dedup();
    for t in times {
        let Ok(wait) = (t - now).to_std() else {
            continue;
        };
        let tx = tx.clone();
        let job = Job::new_one_shot_async(wait, move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.send(Event::Boundary(t)).await;
            })
        });
        match job {
            Ok(job) => match sched.add(job).await {
                Ok(id) => jobs.push(id),
                Err(e) => tracing::error!("cannot schedule a window job: {e}"),
            },
            Err(e) => tracing::error!("cannot schedule a window job: {e}"),
        }
    }
    tracing::info!(jobs = jobs.len(), "window jobs scheduled");
}

/// (Re)schedules the digest cron job; returns its id.
async fn schedule_digest(
    sched: &JobScheduler,
    previous: Option<Uuid>,
    config: &Config,
    tx: &mpsc::Sender<Event>,
) -> anyhow::Result<Uuid> {
    if let Some(id) = previous {
        sched.remove(&id).await?;
    }
    let tx = tx.clone();
    let job = Job::new_async_tz(
        config.settings.digest.schedule.as_str(),
        config.timezone,
        move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                let _ = tx.send(Event::Digest).await;
            })
        },
    )?;
    let id = sched.add(job).await?;
    tracing::info!(schedule = %config.settings.digest.schedule, "digest scheduled");
    Ok(id)
}

/// Editors' temporary and swap files, which must not trigger reloads.
fn is_editor_noise(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name == "4913"
}

async fn main(config_path: Option<PathBuf>, now: Now) -> anyhow::Result<ExitCode> {
    let config = match crate::commands::checked_config(config_path.as_deref()) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let clock = clock_from(now, config.timezone);
    // The same lock as `once`: a cron run next to the daemon exits at once.
    let lock_path = crate::lock::run_lock_path(&config.settings.paths.state);
    let lock = match crate::lock::try_acquire(&lock_path)? {
        Ok(held) => held,
        Err(holder) => {
            eprintln!(
                "bookweek run: {holder} holds {}; exiting",
                lock_path.display()
            );
            return Ok(ExitCode::from(crate::commands::EXIT_LOCKED));
        }
    };
    let signer = crate::commands::signer(&config, &State::open(&config.settings.paths.state)?)?;
    let (templates, problems) = Templates::load(&config.settings.paths.templates);
    for p in &problems {
        tracing::error!("{p}");
    }
    if !problems.is_empty() {
        anyhow::bail!("the templates have errors; fix them and start again");
    }
    let config_file = config_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    // What an earlier run made of the site: without its bytes everything is
    // made once more, but files it made that are gone now are removed.
    let site = State::open(&config.settings.paths.state)
        .ok()
        .and_then(|s| s.meta(crate::commands::build::MANIFEST).ok().flatten())
        .map(|json| Manifest::from_json(&json))
        .unwrap_or_default();
    let mut live = Live {
        watched: Watched::new(&config_file, &config),
        config_path: config_path.clone(),
        config,
        mail_templates: Arc::new(std::sync::RwLock::new(templates.clone())),
        templates,
        cache: Cache::long_running(),
        content: content::Loaded::default(),
        signer,
        site,
    };
    live.load_content(clock());

    let (published_tx, published_rx) = watch::channel(Arc::new(Published::empty(
        Arc::new(live.config.clone()),
        Arc::new(live.templates.clone()),
        clock(),
    )));
    publish(&mut live, clock(), &published_tx);

    let (events_tx, mut events_rx) = mpsc::channel::<Event>(64);
    let stop = Arc::new(AtomicBool::new(false));

    // Scheduler: the digest cron, and one-shot jobs at window boundaries.
    let sched = JobScheduler::new().await?;
    let mut digest_job = schedule_digest(&sched, None, &live.config, &events_tx).await?;
    let mut boundary_jobs = Vec::new();
    schedule_boundaries(
        &sched,
        &mut boundary_jobs,
        &live.content.catalog,
        clock(),
        &events_tx,
    )
    .await;
    sched.start().await?;

    // Watcher: debounced, on content/, templates/ and the config file
    // (through its folder, since editors replace the file when they save).
    let watcher_tx = events_tx.clone();
    let watched = live.watched.clone();
    // Links inside the content are not followed (a link to `..` or `/`
    // would watch the whole disk); `books/` and `people/` may themselves be
    // links, watched below as roots of their own.
    let mut debouncer = notify_debouncer_full::new_debouncer_opt::<
        _,
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >(
        // Short, since a saved edit should be served within 300 ms. An
        // editor's save (write + rename, or truncate + write) arrives within
        // a millisecond or two, so 50 ms still sees it as one change; a
        // file caught half-written is reported and its last good version
        // kept, and its next write reloads it again.
        Duration::from_millis(50),
        None,
        move |result: notify_debouncer_full::DebounceEventResult| match result {
            Ok(events) => {
                // Reading a file is an event too (access); only writes,
                // creations, renames and removals mean something changed.
                let paths: Vec<PathBuf> = events
                    .into_iter()
                    .filter(|e| {
                        use notify::EventKind;
                        matches!(
                            e.event.kind,
                            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                        )
                    })
                    .flat_map(|e| e.event.paths)
                    .filter(|p| watched.matters(p))
                    .collect();
                if !paths.is_empty() {
                    let _ = watcher_tx.blocking_send(Event::Files(paths));
                }
            }
            Err(errors) => {
                for e in errors {
                    tracing::error!("watcher: {e}");
                }
            }
        },
        notify_debouncer_full::RecommendedCache::new(),
        notify::Config::default().with_follow_symlinks(false),
    )?;
    {
        use notify::RecursiveMode;
        let w = &live.watched;
        debouncer.watch(&w.content, RecursiveMode::Recursive)?;
        for linked in ["books", "people"].map(|d| w.content.join(d)) {
            if linked.is_symlink() && linked.is_dir() {
                // notify's recursive walk skips a root that is a link, so
                // the folder itself is watched alone, then its real
                // subfolders.
                debouncer.watch(&linked, RecursiveMode::NonRecursive)?;
                for sub in std::fs::read_dir(&linked)?.flatten() {
                    if sub.file_type().is_ok_and(|t| t.is_dir()) {
                        debouncer.watch(sub.path(), RecursiveMode::Recursive)?;
                    }
                }
            }
        }
        if w.templates.is_dir() {
            debouncer.watch(&w.templates, RecursiveMode::Recursive)?;
        }
        if !w.assets.starts_with(&w.content) && w.assets.is_dir() {
            debouncer.watch(&w.assets, RecursiveMode::Recursive)?;
        }
        if let Some(dir) = w.config_file.parent().filter(|d| d.is_dir()) {
            debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }

    // HTTP server.
    let transport = Arc::new(Transport::from_url(&live.config.mail_url)?);
    let app = Arc::new(AppState::new(
        published_rx,
        live.config.settings.paths.state.clone(),
        live.signer.clone(),
        confirmation_sender(&live, transport, clock.clone()),
        clock.clone(),
    ));
    let limits = server::listen::Limits::for_process(&live.config);
    let listener = server::listen::bind(&live.config.settings.server.listen)?;
    let addr = listener.local_addr()?;
    // Tests and operators read the actual address (the port may be 0).
    println!("bookweek: listening on http://{addr}");
    tracing::info!(%addr, "listening");
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let server = tokio::spawn({
        let mut shutdown_rx = shutdown_rx.clone();
        let app = app.clone();
        async move {
            server::listen::serve(listener, server::router(app), limits, async move {
                let _ = shutdown_rx.wait_for(|s| *s).await;
            })
            .await
        }
    });

    // Catch up exactly as `once` would.
    let mut sending: Option<tokio::task::JoinHandle<()>> =
        Some(spawn_send(&live, clock(), stop.clone(), &events_tx));

    // Slack threads of closed books: now, then every few minutes.
    let mut fetching: Option<tokio::task::JoinHandle<()>> = None;
    spawn_archive_checks(&events_tx);

    let mut signals = Signals::new()?;
    loop {
        tokio::select! {
            _ = signals.recv() => break,
            Some(event) = events_rx.recv() => match event {
                Event::Files(paths) => {
                    tracing::info!(files = paths.len(), "files changed");
                    let before = (live.config.settings.digest.schedule.clone(), live.config.timezone);
                    live.reload(&paths, clock());
                    if before != (live.config.settings.digest.schedule.clone(), live.config.timezone) {
                        match schedule_digest(&sched, Some(digest_job), &live.config, &events_tx).await {
                            Ok(id) => digest_job = id,
                            Err(e) => tracing::error!("cannot reschedule the digest: {e}"),
                        }
                    }
                    publish(&mut live, clock(), &published_tx);
                    schedule_boundaries(&sched, &mut boundary_jobs, &live.content.catalog, clock(), &events_tx).await;
                }
                Event::Boundary(t) => {
                    // The scheduler may fire a little early; the feeds must
                    // change at the boundary, not before it.
                    let early = (t - clock()).to_std().ok().filter(|d| !d.is_zero());
                    match early {
                        Some(wait) => {
                            let tx = events_tx.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(wait).await;
                                let _ = tx.send(Event::Boundary(t)).await;
                            });
                        }
                        None => publish(&mut live, clock(), &published_tx),
                    }
                }
                Event::Archive => {
                    if fetching.as_ref().is_none_or(|h| h.is_finished()) {
                        fetching = spawn_fetch(&live, clock(), stop.clone());
                    }
                }
                Event::DigestCreated(done) => {
                    publish(&mut live, clock(), &published_tx);
                    let _ = done.send(());
                }
                Event::Digest | Event::Resume => {
                    // One send at a time; a tick during a long send is picked
                    // up by the next one (it resumes pending deliveries).
                    if sending.as_ref().is_none_or(|h| h.is_finished()) {
                        if matches!(event, Event::Digest) {
                            publish(&mut live, clock(), &published_tx);
                        }
                        sending = Some(spawn_send(&live, clock(), stop.clone(), &events_tx));
                    }
                }
            },
        }
    }

    // Shutdown: stop accepting requests, let the message in flight finish
    // and be recorded, and be gone within ten seconds.
    tracing::info!("shutting down");
    stop.store(true, Ordering::Relaxed);
    let _ = shutdown_tx.send(true);
    let _ = sched.clone().shutdown().await;
    drop(debouncer);
    if let Some(handle) = sending {
        let _ = tokio::time::timeout(Duration::from_secs(8), handle).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), app.finish_sends()).await;
    drop(lock);
    Ok(ExitCode::SUCCESS)
}

/// Creates and sends the due digest on a blocking thread. Deliveries left
/// pending by an unreachable server are resumed [`RESUME_AFTER`] later.
fn spawn_send(
    live: &Live,
    now: DateTime<FixedOffset>,
    stop: Arc<AtomicBool>,
    events: &mpsc::Sender<Event>,
) -> tokio::task::JoinHandle<()> {
    let site = live.site();
    let events = events.clone();
    tokio::task::spawn_blocking(move || {
        let result = State::open(&site.config.settings.paths.state)
            .map_err(anyhow::Error::from)
            .and_then(|mut state| {
                let publish_page = &mut |_: &State, _: i64| {
                    let (done, published) = std::sync::mpsc::sync_channel(1);
                    if events.blocking_send(Event::DigestCreated(done)).is_ok() {
                        // Not for ever: a loop that is shutting down publishes nothing.
                        let _ = published.recv_timeout(DIGEST_PAGE_WAIT);
                    }
                };
                send_due(
                    &site,
                    &mut state,
                    now,
                    false,
                    SendLock::Wait(Some(stop.clone())),
                    publish_page,
                )
            });
        // send_due logs each digest it delivered.
        match result {
            Ok(report) if report.summary.left_pending > 0 && !stop.load(Ordering::Relaxed) => {
                tracing::warn!(
                    pending = report.summary.left_pending,
                    retry_in = %crate::human::duration(RESUME_AFTER),
                    "deliveries left pending"
                );
                tokio::spawn(async move {
                    tokio::time::sleep(RESUME_AFTER).await;
                    let _ = events.send(Event::Resume).await;
                });
            }
            Ok(_) => {}
            Err(e) => tracing::error!("digest: {e:#}"),
        }
    })
}

/// Sends [`Event::Archive`] at start and every [`ARCHIVE_CHECK_EVERY`].
fn spawn_archive_checks(events: &mpsc::Sender<Event>) {
    let events = events.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(ARCHIVE_CHECK_EVERY);
        loop {
            every.tick().await;
            if events.send(Event::Archive).await.is_err() {
                break;
            }
        }
    });
}

/// Fetches the due archives over the Slack API on a blocking thread; the
/// watcher sees the book files it writes, and the recap follows. `None`
/// when the fetch is not set up or nothing is due.
fn spawn_fetch(
    live: &Live,
    now: DateTime<FixedOffset>,
    stop: Arc<AtomicBool>,
) -> Option<tokio::task::JoinHandle<()>> {
    use crate::slack::fetch;
    let slack = fetch::configured(&live.config)?;
    if fetch::due(&live.content.catalog, slack, now).is_empty() {
        return None;
    }
    let config = live.config.clone();
    let catalog = live.content.catalog.clone();
    Some(tokio::task::spawn_blocking(move || {
        let report = fetch::fetch_due(&config, &catalog, now, Some(stop));
        for (slug, summary) in &report.written {
            tracing::info!(book = %slug, "archive fetched: {}", summary.line());
            for w in summary.warnings() {
                tracing::warn!(book = %slug, "{w}");
            }
        }
        for slug in &report.empty {
            tracing::info!(book = %slug, "archive: no threads yet");
        }
        for (slug, e) in &report.failed {
            tracing::error!(book = %slug, "archive fetch failed: {e}; tried again in a few minutes");
        }
    }))
}

/// Sends confirmation emails for the subscribe form, with the digest's
/// transport and the `confirm.*.j2` templates.
fn confirmation_sender(
    live: &Live,
    transport: Arc<Transport>,
    clock: Clock,
) -> server::SendConfirmation {
    let templates = live.mail_templates.clone();
    // The config comes from the server: the one last reloaded.
    Arc::new(move |config: &Config, subscriber: &Subscriber, url: &str| {
        // The templates as last reloaded: an edited confirm.*.j2 applies
        // without a restart.
        let templates = templates
            .read()
            .map_err(|_| "the templates lock is poisoned".to_string())?
            .clone();
        let message = mail::confirmation(config, &templates, &subscriber.email, url, clock())?;
        transport.send(&message).map_err(|e| format!("{e:?}"))
    })
}

/// SIGTERM and SIGINT.
struct Signals {
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
}
