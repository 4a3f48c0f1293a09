//! Typed messages over the dynamic core: a [`Message`] names its request kind and its reply
//! type once, callers [`ask`](crate::actor::Handle::ask) with it, and actors decode a request
//! into an enum of the messages they understand ([`messages!`](crate::messages)) instead of
//! matching kind strings. Both travel as the dynamic form does (a kind and CBOR data), so a
//! typed caller reaches an actor in any language, and the CLI reaches a typed actor.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::actor::Response;
use crate::value::{Payload, ValueError};

/// A request type: its kind on the wire and the type of its reply.
///
/// ```
/// use beach_core::actor::Message;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Add { a: i64, b: i64 }
///
/// impl Message for Add {
///     const KIND: &'static str = "add";
///     type Reply = i64;
/// }
///
/// assert_eq!(Add::reply(&3).into_result().unwrap().decode::<i64>().unwrap(), 3);
/// ```
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    /// The request kind, as the dynamic form and other languages name it (`ping`).
    const KIND: &'static str;
    /// What a successful handler answers.
    type Reply: Serialize + DeserializeOwned + Send + 'static;

    /// The answer `reply`, typed so a handler cannot answer this message with another type.
    fn reply(reply: &Self::Reply) -> Response {
        Response::ok(reply)
    }
}

/// A set of messages an actor understands, decoded by kind: made by
/// [`messages!`](crate::messages), used with [`crate::actor::Request::decode`].
pub trait Messages: Sized {
    /// The kinds of the messages in the set.
    const KINDS: &'static [&'static str];

    /// The message of kind `kind` with data `data`: `None` when the kind is not in the set,
    /// an error when the data is not that message.
    fn decode(kind: &str, data: &Payload) -> Option<Result<Self, ValueError>>;
}

/// Declares an enum of the [`Message`]s an actor understands, one variant per message, and
/// implements [`Messages`] for it: [`crate::actor::Request::decode`] then turns a request into
/// a variant, answering `request type not supported by actor` for any other kind and naming
/// the kind for data that does not decode.
///
/// ```
/// use async_trait::async_trait;
/// use beach_core::actor::{Actor, Context, InitError, Message, Request, Response};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Add { a: i64, b: i64 }
/// impl Message for Add { const KIND: &'static str = "add"; type Reply = i64; }
///
/// #[derive(Serialize, Deserialize)]
/// struct Neg(i64);
/// impl Message for Neg { const KIND: &'static str = "neg"; type Reply = i64; }
///
/// beach_core::messages! {
///     /// What a calculator understands.
///     enum Calc { Add(Add), Neg(Neg) }
/// }
///
/// struct Calculator;
///
/// #[async_trait]
/// impl Actor for Calculator {
///     async fn init(_ctx: &Context) -> Result<Self, InitError> { Ok(Calculator) }
///
///     async fn handle(&self, _ctx: &Context, request: Request) -> Response {
///         match request.decode::<Calc>() {
///             Ok(Calc::Add(m)) => Add::reply(&(m.a + m.b)),
///             Ok(Calc::Neg(Neg(x))) => Neg::reply(&-x),
///             Err(answer) => answer,
///         }
///     }
/// }
/// ```
#[macro_export]
macro_rules! messages {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident($message:ty)),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* #[allow(missing_docs)] $variant($message)),+
        }

        impl $crate::actor::Messages for $name {
            const KINDS: &'static [&'static str] =
                &[$(<$message as $crate::actor::Message>::KIND),+];

            fn decode(
                kind: &str,
                data: &$crate::value::Payload,
            ) -> ::core::option::Option<::core::result::Result<Self, $crate::value::ValueError>> {
                $(
                    if kind == <$message as $crate::actor::Message>::KIND {
                        return ::core::option::Option::Some(
                            data.decode::<$message>().map($name::$variant),
                        );
                    }
                )+
                ::core::option::Option::None
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }
    impl Message for Add {
        const KIND: &'static str = "add";
        type Reply = i64;
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Ping;
    impl Message for Ping {
        const KIND: &'static str = "ping";
        type Reply = ();
    }

    crate::messages! {
        #[derive(Debug, PartialEq)]
        enum Set { Add(Add), Ping(Ping) }
    }

    #[test]
    fn a_set_decodes_its_kinds_and_nothing_else() {
        assert_eq!(Set::KINDS, ["add", "ping"]);
        let add = Payload::encode(&Add { a: 1, b: 2 }).unwrap();
        assert_eq!(Set::decode("add", &add).unwrap().unwrap(), Set::Add(Add { a: 1, b: 2 }));
        assert_eq!(Set::decode("ping", &Payload::null()).unwrap().unwrap(), Set::Ping(Ping));
        assert!(Set::decode("add", &Payload::null()).unwrap().is_err());
        assert!(Set::decode("sub", &add).is_none());
    }

    fn request(kind: &str, data: Payload) -> crate::actor::Request {
        let to = "10.0.0.1:1#1".parse::<crate::model::NodeId>().unwrap().actor_id(1);
        let call = crate::wire::ActorCall {
            id: 1,
            to,
            realm: crate::model::Realm::global(),
            kind: kind.to_owned(),
            data,
            timeout_ms: 1000,
            ident: None,
            attempt: 0,
        };
        crate::actor::Request::from_wire(call, std::time::Instant::now())
    }

    #[test]
    fn one_message_or_the_answer_to_give_instead() {
        let add = Payload::encode(&Add { a: 1, b: 2 }).unwrap();
        assert_eq!(request("add", add.clone()).message::<Add>().unwrap(), Add { a: 1, b: 2 });
        let other = request("sub", add).message::<Add>().unwrap_err().into_result().unwrap_err();
        assert_eq!(other.error, "request type not supported by actor");
        let bad = request("add", Payload::null()).message::<Add>().unwrap_err();
        let bad = bad.into_result().unwrap_err().error;
        assert!(bad.starts_with("bad data for `add`: "), "{bad}");
        assert_eq!(
            request("add", Payload::null())
                .decode::<Set>()
                .unwrap_err()
                .into_result()
                .unwrap_err()
                .error,
            bad
        );
    }
}
