//! Reads TwiML as Twilio does: a `<Response>` of verbs, each with attributes, text and nested
//! verbs or nouns. Anything that is not well-formed TwiML is an error, which Twilio reports as
//! error 12100 ("Document parse failure") and the caller hears as an application error.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Element name (`Say`, `Dial`, ...).
    pub name: String,
    /// Attributes, unescaped.
    pub attrs: Vec<(String, String)>,
    /// Text content, unescaped and trimmed.
    pub text: String,
    /// Nested elements.
    pub children: Vec<Node>,
}

impl Node {
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An attribute as a number, or `default`.
    pub fn number(&self, name: &str, default: u32) -> u32 {
        self.attr(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// A boolean attribute (`true`).
    pub fn flag(&self, name: &str) -> bool {
        self.attr(name) == Some("true")
    }
}

/// Why a document is not TwiML.
#[derive(Debug, thiserror::Error)]
#[error("not valid TwiML: {0}")]
pub struct ParseError(pub String);

/// The verbs of a `<Response>` document.
pub fn parse(xml: &str) -> Result<Vec<Node>, ParseError> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let event = reader.read_event().map_err(|e| ParseError(e.to_string()))?;
        match event {
            Event::Start(e) => stack.push(node(&e)?),
            Event::Empty(e) => {
                let n = node(&e)?;
                stack
                    .last_mut()
                    .ok_or_else(|| ParseError("unbalanced".into()))?
                    .children
                    .push(n);
            }
            Event::End(_) => {
                let mut n = stack.pop().ok_or_else(|| ParseError("unbalanced".into()))?;
                n.text = n.text.trim().to_string();
                stack
                    .last_mut()
                    .ok_or_else(|| ParseError("unbalanced".into()))?
                    .children
                    .push(n);
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                // An entity split out of the text by the reader: resolve the predefined ones.
                let resolved = quick_xml::escape::unescape(&format!("&{};", r.xml10_content()))
                    .map_err(|e| ParseError(e.to_string()))?
                    .into_owned();
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let root = stack.pop().ok_or_else(|| ParseError("empty".into()))?;
    if !stack.is_empty() {
        return Err(ParseError("unclosed element".into()));
    }
    match root.children.as_slice() {
        [response] if response.name == "Response" => Ok(response.children.clone()),
        _ => Err(ParseError("the document is not one <Response>".into())),
    }
}

fn node(e: &quick_xml::events::BytesStart<'_>) -> Result<Node, ParseError> {
    let name = e.name().as_ref().to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| ParseError(e.to_string()))?;
        let key = a.key.as_ref().to_string();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| ParseError(e.to_string()))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Node {
        name,
        attrs,
        ..Node::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_verbs_attributes_and_escaped_text() {
        let verbs = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-US">Tom &amp; Jerry &lt;3</Say><Dial action="https://x/d?a=1&amp;b=2" timeout="20"><Number url="https://x/w">+1555</Number></Dial><Hangup/></Response>"#,
        )
        .unwrap();
        assert_eq!(verbs.len(), 3);
        assert_eq!(verbs[0].text, "Tom & Jerry <3");
        assert_eq!(verbs[1].attr("action"), Some("https://x/d?a=1&b=2"));
        assert_eq!(verbs[1].number("timeout", 30), 20);
        assert_eq!(verbs[1].children[0].text, "+1555");
        assert_eq!(verbs[2].name, "Hangup");
    }

    #[test]
    fn refuses_what_twilio_would_refuse() {
        assert!(parse("<Response><Say>unclosed</Response>").is_err());
        assert!(parse("<NotTwiML/>").is_err());
        assert!(parse("").is_err());
    }
}
