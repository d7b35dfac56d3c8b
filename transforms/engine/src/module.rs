//! One SmartModule: loading (compile + ABI check + init check) and calling.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use fluvio_smartmodule::dataplane::core::{Decoder, Encoder};
use fluvio_smartmodule::dataplane::record::Record;
use fluvio_smartmodule::dataplane::smartmodule::{
    SmartModuleExtraParams, SmartModuleInitInput, SmartModuleInitOutput, SmartModuleInput,
    SmartModuleOutput,
};
use fluvio_smartmodule::SMARTMODULE_TIMESTAMPS_VERSION;
use wasmtime::{
    ExternType, Instance, InstancePre, Linker, Memory, Store, StoreLimits, StoreLimitsBuilder,
    Trap, TypedFunc, ValType,
};

use crate::engine::Engine;
use crate::error::{CallError, LoadError};

/// The protocol version the modules are called with (what
/// fluvio-smartengine 0.50 uses).
const VERSION: i16 = SMARTMODULE_TIMESTAMPS_VERSION;

/// The transform a module exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransformKind {
    Filter,
    Map,
    FilterMap,
    ArrayMap,
}

impl TransformKind {
    const ALL: [TransformKind; 4] = [Self::Filter, Self::Map, Self::FilterMap, Self::ArrayMap];

    pub fn export_name(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Map => "map",
            Self::FilterMap => "filter_map",
            Self::ArrayMap => "array_map",
        }
    }
}

impl std::fmt::Display for TransformKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.export_name())
    }
}

pub(crate) struct HostState {
    limits: StoreLimits,
    /// Where the guest left its output (`copy_records`).
    output: Option<(i32, i32)>,
}

/// An instance is used again while its linear memory stays below this
/// (and a quarter of the memory limit). The fluvio-smartmodule ABI leaves
/// each call's output allocated in the guest (the host only copies it
/// out), so an instance grows by its outputs and is replaced once past
/// this; meanwhile, calls skip instantiation, `init`, and the pool's reset
/// of the memory.
const REUSE_BELOW: usize = 16 << 20;

/// A compiled, checked module with its parameters, ready to instantiate.
pub struct Module {
    name: String,
    kind: TransformKind,
    params: SmartModuleExtraParams,
    has_init: bool,
    pre: InstancePre<HostState>,
    /// Instances between calls, at most one per engine thread.
    idle: Mutex<Vec<Live>>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("has_init", &self.has_init)
            .finish()
    }
}

type TransformFn = TypedFunc<(i32, i32, i32), i32>;

impl Engine {
    /// Compiles `wasm`, checks that it is a SmartModule this host can run,
    /// and runs its `init` once with `params` so that bad parameters are
    /// refused now rather than at the first batch.
    pub fn load(
        &self,
        name: &str,
        wasm: &[u8],
        params: BTreeMap<String, String>,
    ) -> Result<Module, LoadError> {
        let params = crate::params::checked(crate::params::declared(wasm).as_deref(), params)?;
        let compiled = wasmtime::Module::new(&self.wasm, wasm)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;

        let mut linker: Linker<HostState> = Linker::new(&self.wasm);
        for import in compiled.imports() {
            let is_copy_records = import.name() == "copy_records"
                && matches!(import.ty(), ExternType::Func(ref f)
                    if f.params().map(|p| p.matches(&ValType::I32)).eq([true, true]) && f.results().len() == 0);
            if !is_copy_records {
                return Err(LoadError::Abi(format!(
                    "it imports `{}::{}`, which this host does not provide (build SmartModules for wasm32-unknown-unknown)",
                    import.module(),
                    import.name()
                )));
            }
            linker
                .func_wrap(
                    import.module(),
                    "copy_records",
                    |mut caller: wasmtime::Caller<'_, HostState>, ptr: i32, len: i32| {
                        caller.data_mut().output = Some((ptr, len));
                    },
                )
                .map_err(|e| LoadError::Abi(e.to_string()))?;
        }

        let exports: Vec<(String, ExternType)> = compiled
            .exports()
            .map(|e| (e.name().to_owned(), e.ty()))
            .collect();
        let has = |name: &str| exports.iter().any(|(n, _)| n == name);
        if !has("memory") || !has("alloc") {
            return Err(LoadError::Abi(
                "it exports no `memory` or no `alloc` (is it built with fluvio-smartmodule?)"
                    .into(),
            ));
        }
        let kind = TransformKind::ALL
            .into_iter()
            .find(|k| has(k.export_name()))
            .ok_or_else(|| {
                LoadError::Abi(if has("aggregate") {
                    "aggregate SmartModules are not supported".into()
                } else {
                    "it exports none of filter, map, filter_map, array_map".into()
                })
            })?;
        let pre = linker
            .instantiate_pre(&compiled)
            .map_err(|e| LoadError::Abi(format!("{e:#}")))?;
        let module = Module {
            name: name.to_owned(),
            kind,
            params: SmartModuleExtraParams::new(params, None),
            has_init: has("init"),
            pre,
            idle: Mutex::new(Vec::new()),
        };
        // Instantiating runs init and checks every export's signature.
        module.start(self).map_err(|e| match e {
            CallError::Module(msg) => LoadError::Init(msg),
            other => LoadError::Init(other.to_string()),
        })?;
        Ok(module)
    }
}

impl Module {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> TransformKind {
        self.kind
    }

    /// Instances kept between calls (at most one per engine thread).
    pub fn idle_instances(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Runs the transform over `records` in an idle instance, or a new one.
    /// An instance that failed in any way is dropped, never used again, and
    /// a failure in a used instance is tried again in a fresh one, which
    /// decides: only what fails in a fresh instance is an error, as when
    /// every call had its own.
    pub(crate) fn call(
        &self,
        engine: &Engine,
        records: Vec<Record>,
    ) -> Result<Vec<Record>, CallError> {
        let input = encode_input(records)?;
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(mut live) = idle {
            if let Ok(outputs) = live.call(&input) {
                self.keep(live, engine);
                return Ok(outputs);
            }
        }
        let mut live = self.start(engine)?;
        let outputs = live.call(&input)?;
        self.keep(live, engine);
        Ok(outputs)
    }

    /// Keeps an instance for the next call while it is small: below
    /// [`REUSE_BELOW`] and a quarter of the memory limit, so that a call
    /// has about the room a fresh instance would.
    fn keep(&self, live: Live, engine: &Engine) {
        let limit = REUSE_BELOW.min(engine.config.memory_limit / 4);
        if live.memory.data_size(&live.store) >= limit {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < engine.config.threads {
            idle.push(live);
        }
    }

    /// A fresh instance with init done.
    pub(crate) fn start(&self, engine: &Engine) -> Result<Live, CallError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(engine.config.memory_limit)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            &engine.wasm,
            HostState {
                limits,
                output: None,
            },
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(engine.deadline_ticks());
        let timeout = engine.config.call_timeout;
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, timeout))?;
        let abi = |e: wasmtime::Error| CallError::Abi(format!("{e:#}"));
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| CallError::Abi("no memory export".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "alloc")
            .map_err(abi)?;
        let transform = instance
            .get_typed_func::<(i32, i32, i32), i32>(&mut store, self.kind.export_name())
            .map_err(abi)?;
        let mut live = Live {
            store,
            memory,
            alloc,
            transform,
            deadline_ticks: engine.deadline_ticks(),
            call_timeout: timeout,
        };
        if self.has_init {
            live.init(&instance, &self.params)?;
        }
        Ok(live)
    }
}

/// An instance of a module, with init done.
pub(crate) struct Live {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    transform: TransformFn,
    deadline_ticks: u64,
    call_timeout: Duration,
}

impl Live {
    fn init(
        &mut self,
        instance: &Instance,
        params: &SmartModuleExtraParams,
    ) -> Result<(), CallError> {
        let init = instance
            .get_typed_func::<(i32, i32, i32), i32>(&mut self.store, "init")
            .map_err(|e| CallError::Abi(format!("{e:#}")))?;
        let input = encode(&SmartModuleInitInput {
            params: params.clone(),
        })?;
        let (ptr, len) = self.write(&input)?;
        let status = self.guard(|store| init.call(store, (ptr, len, i32::from(VERSION))))?;
        if status < 0 {
            let out: SmartModuleInitOutput = match self.read_output() {
                Ok(bytes) => decode(&bytes)?,
                Err(_) => return Err(CallError::Status(status)),
            };
            return Err(CallError::Module(out.error.hint));
        }
        Ok(())
    }

    /// Runs the transform over `records` (one batch).
    /// Runs the transform over one batch, encoded by [`encode_input`].
    pub(crate) fn call(&mut self, input: &[u8]) -> Result<Vec<Record>, CallError> {
        let (ptr, len) = self.write(input)?;
        self.store.set_epoch_deadline(self.deadline_ticks);
        let transform = self.transform.clone();
        let status = self.guard(|store| transform.call(store, (ptr, len, i32::from(VERSION))))?;
        if status < 0 {
            return Err(CallError::Status(status));
        }
        let output: SmartModuleOutput = decode(&self.read_output()?)?;
        if let Some(error) = output.error {
            return Err(CallError::Module(error.hint));
        }
        Ok(output.successes)
    }

    fn guard<T>(
        &mut self,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        f(&mut self.store).map_err(|e| classify(e, self.call_timeout))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(i32, i32), CallError> {
        let len =
            i32::try_from(bytes.len()).map_err(|_| CallError::Abi("input over 2 GiB".into()))?;
        let alloc = self.alloc.clone();
        let ptr = self.guard(|store| alloc.call(store, len))?;
        let offset =
            usize::try_from(ptr).map_err(|_| CallError::Abi(format!("alloc returned {ptr}")))?;
        self.memory
            .write(&mut self.store, offset, bytes)
            .map_err(|e| CallError::Abi(format!("alloc returned {ptr}, outside memory: {e}")))?;
        Ok((ptr, len))
    }

    fn read_output(&mut self) -> Result<Vec<u8>, CallError> {
        let (ptr, len) = self
            .store
            .data_mut()
            .output
            .take()
            .ok_or_else(|| CallError::Abi("the module returned no output".into()))?;
        let (offset, len) = usize::try_from(ptr)
            .ok()
            .zip(usize::try_from(len).ok())
            .ok_or_else(|| CallError::Abi(format!("output at {ptr} of length {len}")))?;
        let mut buf = vec![0; len];
        self.memory
            .read(&self.store, offset, &mut buf)
            .map_err(|e| CallError::Abi(format!("output outside memory: {e}")))?;
        Ok(buf)
    }
}

/// A batch as a module's transform reads it.
pub(crate) fn encode_input(records: Vec<Record>) -> Result<Vec<u8>, CallError> {
    let input = SmartModuleInput::try_from_records(records, VERSION)
        .map_err(|e| CallError::Abi(e.to_string()))?;
    encode(&input)
}

fn encode<E: Encoder>(value: &E) -> Result<Vec<u8>, CallError> {
    let mut out = Vec::new();
    value
        .encode(&mut out, VERSION)
        .map_err(|e| CallError::Abi(format!("encoding input: {e}")))?;
    Ok(out)
}

fn decode<D: Decoder + Default>(bytes: &[u8]) -> Result<D, CallError> {
    let mut value = D::default();
    value
        .decode(&mut std::io::Cursor::new(bytes), VERSION)
        .map_err(|e| CallError::Abi(format!("decoding output: {e}")))?;
    Ok(value)
}

fn classify(e: wasmtime::Error, timeout: Duration) -> CallError {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout(timeout),
        _ => CallError::Trap(
            format!("{e:#}")
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
    }
}
