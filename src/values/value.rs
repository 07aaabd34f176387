//! A decoded Go value: a tree that mirrors what `fmt` walks with reflect,
//! plus what Go's own methods (`String`, `Error`) would say for the
//! standard types whose methods we emulate.

use crate::values::types::Kind;

/// One decoded value.
#[derive(Debug, Clone)]
pub struct Value {
    /// Go type name ("main.Item", "map[string]int").
    pub type_name: String,
    pub kind: Kind,
    /// Where the value lives in target memory (0 for values held in an
    /// interface word or synthesized).
    pub addr: u64,
    pub data: Data,
    /// What the type's `String()`/`Error()` method returns, for the
    /// standard types goroscope emulates (time.Time, time.Duration,
    /// errors, contexts). fmt prints this instead of the fields.
    pub method: Option<String>,
    /// Decoded state for humans and debugger adapters (sync types,
    /// channels); never part of fmt output.
    pub note: Option<String>,
}

/// The shape-specific part of a value.
#[derive(Debug, Clone)]
pub enum Data {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float {
        v: f64,
        bits: u8,
    },
    Complex {
        re: f64,
        im: f64,
        bits: u8,
    },
    /// `s` may be shorter than `len` when the string exceeded the bound.
    String {
        s: String,
        len: u64,
    },
    /// A pointer; `pointee` is decoded only where fmt prints through it
    /// (pointers to structs, arrays, slices and maps at depth 0).
    Pointer {
        addr: u64,
        pointee: Option<Box<Value>>,
    },
    Struct(Vec<FieldValue>),
    /// Arrays and slices; `len` may exceed `items.len()` when bounded.
    List {
        items: Vec<Value>,
        len: u64,
        cap: Option<u64>,
        nil: bool,
    },
    Map {
        entries: Vec<(Value, Value)>,
        len: u64,
        nil: bool,
    },
    Chan {
        addr: u64,
        len: u64,
        cap: u64,
        closed: bool,
        /// Goroutine ids queued to receive (recvq) and to send (sendq).
        recv_waiters: Vec<u64>,
        send_waiters: Vec<u64>,
        /// The buffered elements, oldest first (bounded).
        buffered: Vec<Value>,
    },
    /// Code pointer of a func value (0 = nil).
    Func(u64),
    /// An interface: the dynamic type's descriptor address (0 = nil) and
    /// the dynamic value.
    Iface {
        rtype: u64,
        dynamic: Option<Box<Value>>,
    },
    /// Memory that could not be read or a type that cannot be decoded.
    Error(String),
}

/// A struct field's value.
#[derive(Debug, Clone)]
pub struct FieldValue {
    pub name: String,
    pub value: Value,
}

impl FieldValue {
    /// Exported per Go's rule (first rune upper case); fmt calls methods
    /// only on values reached through exported fields.
    pub fn exported(&self) -> bool {
        self.name.chars().next().is_some_and(|c| c.is_uppercase())
    }
}

impl Value {
    /// A value standing for something unreadable or undecodable.
    pub fn error(type_name: &str, kind: Kind, addr: u64, msg: impl Into<String>) -> Self {
        Value {
            type_name: type_name.to_string(),
            kind,
            addr,
            data: Data::Error(msg.into()),
            method: None,
            note: None,
        }
    }

    /// The structured form for debugger adapters: `{type, kind, addr,
    /// value?, children?, len?, cap?, error?}` (docs/json.md).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut o = serde_json::Map::new();
        o.insert("type".into(), json!(self.type_name));
        o.insert("kind".into(), json!(self.kind));
        if self.addr != 0 {
            o.insert("addr".into(), json!(self.addr));
        }
        o.insert(
            "text".into(),
            json!(crate::values::format::format_value(self, false)),
        );
        if let Some(m) = &self.method {
            o.insert("method".into(), json!(m));
        }
        if let Some(n) = &self.note {
            o.insert("note".into(), json!(n));
        }
        match &self.data {
            Data::Bool(b) => {
                o.insert("value".into(), json!(b));
            }
            Data::Int(v) => {
                o.insert("value".into(), json!(v));
            }
            Data::Uint(v) => {
                o.insert("value".into(), json!(v));
            }
            Data::Float { v, .. } => {
                o.insert("value".into(), json!(v));
            }
            Data::Complex { re, im, .. } => {
                o.insert("value".into(), json!([re, im]));
            }
            Data::String { s, len } => {
                o.insert("value".into(), json!(s));
                o.insert("len".into(), json!(len));
            }
            Data::Pointer { addr, pointee } => {
                o.insert("value".into(), json!(addr));
                if let Some(p) = pointee {
                    o.insert(
                        "children".into(),
                        json!([{"name": "*", "value": p.to_json()}]),
                    );
                }
            }
            Data::Struct(fields) => {
                let c: Vec<_> = fields
                    .iter()
                    .map(|f| json!({"name": f.name, "value": f.value.to_json()}))
                    .collect();
                o.insert("children".into(), json!(c));
            }
            Data::List {
                items,
                len,
                cap,
                nil,
            } => {
                o.insert("len".into(), json!(len));
                if let Some(c) = cap {
                    o.insert("cap".into(), json!(c));
                }
                o.insert("nil".into(), json!(nil));
                let c: Vec<_> = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json!({"name": format!("[{i}]"), "value": v.to_json()}))
                    .collect();
                o.insert("children".into(), json!(c));
            }
            Data::Map { entries, len, nil } => {
                o.insert("len".into(), json!(len));
                o.insert("nil".into(), json!(nil));
                let c: Vec<_> = crate::values::format::sorted_entries(entries)
                    .into_iter()
                    .map(|(k, v)| json!({"key": k.to_json(), "value": v.to_json()}))
                    .collect();
                o.insert("children".into(), json!(c));
            }
            Data::Chan {
                addr,
                len,
                cap,
                closed,
                recv_waiters,
                send_waiters,
                buffered,
            } => {
                o.insert("value".into(), json!(addr));
                o.insert("len".into(), json!(len));
                o.insert("cap".into(), json!(cap));
                o.insert("closed".into(), json!(closed));
                o.insert("recv_waiters".into(), json!(recv_waiters));
                o.insert("send_waiters".into(), json!(send_waiters));
                let c: Vec<_> = buffered
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json!({"name": format!("[{i}]"), "value": v.to_json()}))
                    .collect();
                o.insert("children".into(), json!(c));
            }
            Data::Func(pc) => {
                o.insert("value".into(), json!(pc));
            }
            Data::Iface { rtype, dynamic } => {
                o.insert("nil".into(), json!(*rtype == 0));
                if let Some(d) = dynamic {
                    o.insert("dynamic".into(), d.to_json());
                }
            }
            Data::Error(e) => {
                o.insert("error".into(), json!(e));
            }
        }
        serde_json::Value::Object(o)
    }
}
