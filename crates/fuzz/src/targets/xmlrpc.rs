//! `xmlrpc-response` and `xmlrpc-call`: the XML-RPC decoders. Beyond not
//! panicking, whatever decodes must survive a round trip: encoding the
//! decoded message and decoding it again gives the same message, as the
//! module documents (ints come back as untyped strings).

use super::{encoded_values, feature, shape, tokens, Outcome, Target};
use crate::values::{brief, same, same_response, xml_view};
use xenapi::wire::{xmlrpc, Response};
use xenapi::Value;

pub struct Decoder {
    call: bool,
}

impl Decoder {
    pub fn response() -> Decoder {
        Decoder { call: false }
    }

    pub fn call() -> Decoder {
        Decoder { call: true }
    }
}

const DICTIONARY: &[&str] = &[
    "<value>",
    "</value>",
    "<value/>",
    "<struct>",
    "</struct>",
    "<member>",
    "</member>",
    "<name>",
    "</name>",
    "<array>",
    "<data>",
    "</data>",
    "</array>",
    "<array/>",
    "<base64>",
    "</base64>",
    "<string>",
    "</string>",
    "<string/>",
    "<int>",
    "<i4>",
    "<i8>",
    "</i8>",
    "<boolean>",
    "<double>",
    "</double>",
    "<dateTime.iso8601>",
    "<nil/>",
    "<nil>",
    "&#x0;",
    "&#0;",
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&#x1F600;",
    "&#xD800;",
    "&#1114112;",
    "&nbsp;",
    "&",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<?pi x?>",
    "<!DOCTYPE x [<!ENTITY a \"b\">]>",
    "<methodResponse>",
    "</methodResponse>",
    "<params>",
    "</params>",
    "<param>",
    "</param>",
    "<fault>",
    "</fault>",
    "<methodCall>",
    "<methodName>",
    "</methodName>",
    "Status",
    "Success",
    "Failure",
    "Value",
    "ErrorDescription",
    "faultCode",
    "faultString",
    "<value><array><data>",
    "<value><struct><member><name>a</name>",
    "<x:value xmlns:x=\"u\">",
    "<value a='1'>",
    "</",
    "<",
    ">",
    "/>",
];

/// Typed values and XML constructs the encoder never writes.
const HANDWRITTEN: &str = "<param><value><string>a b </string></value></param>\
    <param><value><int> 42 </int></value></param><param><value><i4>-7</i4></value></param>\
    <param><value><i8>9000000000</i8></value></param><param><value><boolean>true</boolean></value></param>\
    <param><value><double>-Infinity</double></value></param><param><value><nil/></value></param>\
    <param><value><base64>aGVsbG8g\n d29ybGQ=</base64></value></param><param><value><string/></value></param>\
    <param><value><dateTime.iso8601>2024-04-20T12:00:00Z</dateTime.iso8601></value></param>\
    <param><value>&amp;&lt;&#65;&#x42;<![CDATA[<c>]]><!-- note --></value></param>\
    <param><value><array/></value></param>";

impl Target for Decoder {
    fn name(&self) -> &'static str {
        if self.call {
            "xmlrpc-call"
        } else {
            "xmlrpc-response"
        }
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let mut seeds: Vec<Vec<u8>> = if self.call {
            let mut s = encoded_values(48, 11, |v| xmlrpc::encode_call("VM.set_other_config", std::slice::from_ref(v)));
            s.push(include_bytes!("../../../xenapi/tests/fixtures/xmlrpc_call_login.xml").to_vec());
            s.push(format!("<?xml version=\"1.0\"?>\n<methodCall><methodName> m </methodName><params>{HANDWRITTEN}</params></methodCall>").into_bytes());
            s.push(b"<methodCall><methodName>a.b</methodName><params/></methodCall>".to_vec());
            s
        } else {
            let mut s = encoded_values(48, 12, |v| xmlrpc::encode_response(&Response::Success(v.clone())));
            s.push(
                xmlrpc::encode_response(&Response::Failure(vec!["HANDLE_INVALID".into(), "VM".into(), "x&y".into()]))
                    .into_bytes(),
            );
            s.push(include_bytes!("../../../xenapi/tests/fixtures/xmlrpc_response_success.xml").to_vec());
            s.push(include_bytes!("../../../xenapi/tests/fixtures/xmlrpc_response_failure.xml").to_vec());
            s.push(include_bytes!("../../../xenapi/tests/fixtures/xmlrpc_fault.xml").to_vec());
            let typed = HANDWRITTEN.replace("<param>", "<member><name>k</name>").replace("</param>", "</member>");
            s.push(format!("<methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value><struct>{typed}</struct></value></member></struct></value></param></params></methodResponse>").into_bytes());
            s
        };
        seeds.retain(|s| s.len() <= 64 << 10);
        seeds
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        tokens(DICTIONARY)
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        if self.call {
            let r = xmlrpc::decode_call(input);
            if let Ok((method, params)) = &r {
                let again = xmlrpc::decode_call(xmlrpc::encode_call(method, params).as_bytes());
                let want: Vec<Value> = params.iter().map(xml_view).collect();
                let kept = matches!(&again, Ok((m, p)) if m == method && p.len() == want.len()
                    && p.iter().zip(&want).all(|(a, b)| same(a, b)));
                if !kept {
                    return Err(format!("call does not survive a round trip: {} became {}", brief(&r), brief(&again)));
                }
            }
            Ok(feature("call", &r, |(_, p)| p.iter().map(shape).collect::<Vec<_>>().join(" ")))
        } else {
            let r = xmlrpc::decode_response(input);
            if let Ok(resp) = &r {
                let again = xmlrpc::decode_response(xmlrpc::encode_response(resp).as_bytes());
                let want = match resp {
                    Response::Success(v) => Response::Success(xml_view(v)),
                    failure => failure.clone(),
                };
                if !again.as_ref().is_ok_and(|a| same_response(a, &want)) {
                    return Err(format!(
                        "response does not survive a round trip: {} became {}",
                        brief(&r),
                        brief(&again)
                    ));
                }
            }
            Ok(feature("response", &r, |resp| match resp {
                Response::Success(v) => shape(v),
                Response::Failure(d) => format!("failure {}", d.len()),
            }))
        }
    }
}
