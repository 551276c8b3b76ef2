//! Helpers shared by the store's integration tests.

pub mod rollups;

/// A report with `records` rows of (ip, count, dkim domain, spf domain), all DKIM/SPF pass.
#[allow(
    dead_code,
    reason = "not every test file that shares this module uses it"
)]
pub fn report_xml(
    org: &str,
    report_id: &str,
    domain: &str,
    records: &[(&str, u64, &str, &str)],
) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>{org}</org_name>\
         <email>noreply@{org}</email><report_id>{report_id}</report_id>\
         <date_range><begin>1700006400</begin><end>1700092799</end></date_range>\
         </report_metadata><policy_published><domain>{domain}</domain><adkim>r</adkim>\
         <aspf>s</aspf><p>none</p></policy_published>"
    );
    for (ip, count, dkim, spf) in records {
        xml.push_str(&format!(
            "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
             <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>\
             </row><identifiers><header_from>{domain}</header_from><envelope_from>{spf}</envelope_from>\
             </identifiers><auth_results><dkim><domain>{dkim}</domain><selector>s1</selector>\
             <result>pass</result></dkim><spf><domain>{spf}</domain><result>pass</result></spf>\
             </auth_results></record>"
        ));
    }
    xml.push_str("</feedback>");
    xml
}

/// Every row of a read-only query, in order.
#[allow(
    dead_code,
    reason = "not every test file that shares this module uses it"
)]
pub fn rows(store: &ruadb_store::Store, sql: &str) -> Vec<Vec<ruadb_store::Value>> {
    let mut rows = Vec::new();
    store
        .query(sql, &mut |row| {
            rows.push(row.to_vec());
            Ok(())
        })
        .unwrap();
    rows
}
