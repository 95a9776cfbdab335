//! `herald acls list | add | remove`: Kafka ACL bindings through the admin API (DescribeAcls,
//! CreateAcls, DeleteAcls), against herald-broker (`--acl FILE`) or any Kafka cluster, with the usual
//! `--brokers`, `-X` and `--timeout`.
//!
//! The librdkafka calls are in `acls/ffi.rs` and the model in `acls/binding.rs`; this file is flags and
//! output. Not a policy tool: it adds and removes exactly the bindings asked for (one per operation).

pub(crate) mod binding;
mod codes;
pub(crate) mod ffi;

use anyhow::{anyhow, bail, Context};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde_json::json;

use self::binding::{
    parse_principal, AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType,
    CLUSTER_NAME,
};
use self::binding::{AclCallError, Deleted, Refusal};
use crate::client::ClientArgs;
use crate::output::{print_json, OutputFormat, Table};

/// Subcommands of `herald acls`.
#[derive(Debug, clap::Subcommand)]
pub enum AclsCommand {
    /// List ACL bindings: all of them, or those the filters select.
    List(ListArgs),
    /// Add an allow or deny binding for each operation given.
    Add(AddArgs),
    /// Remove the bindings a filter selects (unset filters match anything) and print each one.
    Remove(RemoveArgs),
}

/// Filters of `herald acls list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only bindings on this kind of resource.
    #[arg(long, value_enum, default_value = "any")]
    resource_type: ResourceType,
    /// Only bindings whose resource name is NAME (with --pattern match: every binding that applies to
    /// the resource NAME, including `*` and prefixes).
    #[arg(long, value_name = "NAME")]
    resource: Option<String>,
    /// Only bindings with this pattern type.
    #[arg(long, value_enum, default_value = "any")]
    pattern: PatternType,
    /// Only bindings of this principal, e.g. User:alice.
    #[arg(long, value_parser = parse_principal)]
    principal: Option<String>,
}

/// The resource a binding is about: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ResourceArgs {
    /// A topic (with --prefixed: every topic whose name starts with NAME).
    #[arg(long, value_name = "NAME")]
    topic: Option<String>,
    /// A consumer group (with --prefixed: every group whose id starts with NAME).
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// The cluster (for ACL management, topic creation, idempotent writes...).
    #[arg(long)]
    cluster: bool,
    /// A transactional id (with --prefixed: every one that starts with ID).
    #[arg(long, value_name = "ID")]
    transactional_id: Option<String>,
}

/// Flags of `herald acls add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Grant the operations.
    #[arg(long, conflicts_with = "deny", required_unless_present = "deny")]
    allow: bool,
    /// Refuse the operations (a deny beats every allow).
    #[arg(long)]
    deny: bool,
    /// Who: User:NAME, or User:* for every user.
    #[arg(long, value_parser = parse_principal)]
    principal: String,
    /// What, comma-separated (one binding each).
    #[arg(long = "operation", value_name = "OP[,OP...]", required = true, value_delimiter = ',',
          value_parser = binding_operations())]
    operations: Vec<Operation>,
    #[command(flatten)]
    resource: ResourceArgs,
    /// The name is a prefix (pattern type prefixed) instead of an exact name (literal).
    #[arg(long, conflicts_with = "cluster")]
    prefixed: bool,
    /// The client host the binding applies to.
    #[arg(long, default_value = "*")]
    host: String,
}

/// Flags of `herald acls remove`: a filter; what is not given matches anything.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Only allow bindings.
    #[arg(long, conflicts_with = "deny")]
    allow: bool,
    /// Only deny bindings.
    #[arg(long)]
    deny: bool,
    /// Only bindings of this principal.
    #[arg(long, value_parser = parse_principal)]
    principal: Option<String>,
    /// Only these operations, comma-separated (`any` for all bindings whatever their operation).
    #[arg(
        long = "operation",
        value_name = "OP[,OP...]",
        value_delimiter = ',',
        value_enum
    )]
    operations: Vec<Operation>,
    #[command(flatten)]
    resource: ResourceArgs,
    /// Bindings whose name is a prefix (pattern type prefixed) instead of literal ones.
    #[arg(long, conflicts_with = "cluster")]
    prefixed: bool,
    /// Only bindings for this client host.
    #[arg(long)]
    host: Option<String>,
}

/// The operations a binding may name: all of them but the filter-only `any`.
fn binding_operations() -> impl TypedValueParser<Value = Operation> {
    let names: Vec<_> = Operation::value_variants()
        .iter()
        .filter(|operation| **operation != Operation::Any)
        .filter_map(ValueEnum::to_possible_value)
        .collect();
    PossibleValuesParser::new(names).try_map(|name| Operation::from_str(&name, false))
}

impl ResourceArgs {
    /// The resource type and name selected.
    fn resource(&self) -> (ResourceType, String) {
        match (&self.topic, &self.group, &self.transactional_id) {
            (Some(name), _, _) => (ResourceType::Topic, name.clone()),
            (_, Some(name), _) => (ResourceType::Group, name.clone()),
            (_, _, Some(name)) => (ResourceType::TransactionalId, name.clone()),
            // clap guarantees exactly one of the four; the flag is the one left.
            _ => (ResourceType::Cluster, CLUSTER_NAME.to_string()),
        }
    }
}

fn pattern(prefixed: bool) -> PatternType {
    if prefixed {
        PatternType::Prefixed
    } else {
        PatternType::Literal
    }
}

/// Runs a `herald acls` subcommand. The librdkafka calls block this runtime thread for at most
/// `--timeout` (plus a grace) each, which is fine for a one-command process, as in `groups`.
pub async fn run(
    command: AclsCommand,
    client: &ClientArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let admin = client.admin()?;
    match command {
        AclsCommand::List(args) => list(&admin, client, &args, output),
        AclsCommand::Add(args) => add(&admin, client, &args, output),
        AclsCommand::Remove(args) => remove(&admin, client, &args, output),
    }
}

/// The error of a whole call, naming the operation and the brokers.
fn call_failed(what: &str, client: &ClientArgs) -> impl FnOnce(AclCallError) -> anyhow::Error {
    let context = format!("{what} at {}", client.brokers);
    move |error| anyhow!(error).context(context)
}

fn print_bindings(bindings: &[AclBinding], output: OutputFormat) {
    match output {
        OutputFormat::Json => print_json(&json!(bindings
            .iter()
            .map(AclBinding::to_json)
            .collect::<Vec<_>>())),
        OutputFormat::Table => {
            let mut table = Table::new(&AclBinding::TABLE_HEADER);
            for binding in bindings {
                table.row(binding.table_row());
            }
            print!("{}", table.render());
        }
    }
}

fn list(
    admin: &AdminClient<DefaultClientContext>,
    client: &ClientArgs,
    args: &ListArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let filter = AclFilter {
        resource_type: args.resource_type,
        resource_name: args.resource.clone(),
        pattern_type: args.pattern,
        principal: args.principal.clone(),
        ..AclFilter::any()
    };
    let mut bindings = ffi::describe(admin, &filter, client.timeout)
        .map_err(call_failed("listing ACLs", client))?;
    if bindings.is_empty() {
        check_acls_enabled(admin, client)?;
    }
    bindings.sort();
    print_bindings(&bindings, output);
    Ok(())
}

/// After DescribeAcls answered nothing, tells "no bindings" from "the broker has no ACLs": librdkafka
/// 2.12 drops DescribeAcls' error code (see `ffi.rs`), so this asks DeleteAcls, which reports it, with
/// a filter no binding matches (a literal topic name and principal nobody uses), so nothing is removed.
/// SECURITY_DISABLED is an error; a refusal to alter ACLs leaves the listing's meaning open, said on
/// stderr.
fn check_acls_enabled(
    admin: &AdminClient<DefaultClientContext>,
    client: &ClientArgs,
) -> anyhow::Result<()> {
    const PROBE: &str = "herald-cli-probe-matches-no-binding";
    let probe = AclFilter {
        resource_type: ResourceType::Topic,
        resource_name: Some(PROBE.to_string()),
        pattern_type: PatternType::Literal,
        principal: Some(format!("User:{PROBE}")),
        ..AclFilter::any()
    };
    let refusal = match ffi::delete(admin, &[probe], client.timeout) {
        Ok(results) => match results.into_iter().next() {
            Some(Err(refusal)) => refusal,
            _ => return Ok(()),
        },
        Err(error) => {
            eprintln!("herald: note: could not check that the brokers have ACLs enabled: {error}");
            return Ok(());
        }
    };
    match refusal.code {
        RDKafkaErrorCode::SecurityDisabled => {
            bail!(
                "listing ACLs at {}: {} (SECURITY_DISABLED)",
                client.brokers,
                refusal.message
            )
        }
        _ => {
            eprintln!(
                "herald: note: no bindings listed, which may be a refusal: librdkafka does not \
                 report DescribeAcls errors, and this principal may not alter ACLs ({refusal}); \
                 listing needs describe on the cluster"
            );
            Ok(())
        }
    }
}

fn add(
    admin: &AdminClient<DefaultClientContext>,
    client: &ClientArgs,
    args: &AddArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let (resource_type, resource_name) = args.resource.resource();
    let permission = if args.deny {
        Permission::Deny
    } else {
        Permission::Allow
    };
    let mut bindings: Vec<AclBinding> = args
        .operations
        .iter()
        .map(|&operation| AclBinding {
            resource_type,
            resource_name: resource_name.clone(),
            pattern_type: pattern(args.prefixed),
            principal: args.principal.clone(),
            host: args.host.clone(),
            operation,
            permission,
        })
        .collect();
    bindings.sort();
    bindings.dedup();
    let results = ffi::create(admin, &bindings, client.timeout)
        .map_err(call_failed("adding ACLs", client))?;
    let mut created = Vec::new();
    let mut refused = Vec::new();
    for (binding, result) in bindings.into_iter().zip(results) {
        match result {
            Ok(()) => created.push(binding),
            Err(refusal) => refused.push((binding, refusal)),
        }
    }
    match output {
        OutputFormat::Json => print_json(&json!({
            "created": created.iter().map(AclBinding::to_json).collect::<Vec<_>>(),
            "refused": refusals_json(&refused),
        })),
        OutputFormat::Table if !created.is_empty() => print_bindings(&created, output),
        OutputFormat::Table => {}
    }
    fail_on_refusals("add", &refused)
}

fn refusals_json(refused: &[(AclBinding, Refusal)]) -> serde_json::Value {
    json!(refused
        .iter()
        .map(|(binding, refusal)| {
            let mut value = binding.to_json();
            value["error"] = json!(refusal.message);
            value
        })
        .collect::<Vec<_>>())
}

/// Exit 1 with every refused binding and the broker's reason, or Ok when there are none.
fn fail_on_refusals(verb: &str, refused: &[(AclBinding, Refusal)]) -> anyhow::Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = refused
        .iter()
        .map(|(binding, refusal)| format!("{binding}: {refusal}"))
        .collect();
    bail!(
        "the broker refused to {verb} {} binding(s): {}",
        refused.len(),
        reasons.join("; ")
    )
}

fn remove(
    admin: &AdminClient<DefaultClientContext>,
    client: &ClientArgs,
    args: &RemoveArgs,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let (resource_type, resource_name) = args.resource.resource();
    let permission = match (args.allow, args.deny) {
        (true, _) => Some(Permission::Allow),
        (_, true) => Some(Permission::Deny),
        _ => None,
    };
    let mut operations = args.operations.clone();
    if operations.is_empty() || operations.contains(&Operation::Any) {
        operations = vec![Operation::Any];
    }
    operations.sort();
    operations.dedup();
    let filters: Vec<AclFilter> = operations
        .into_iter()
        .map(|operation| AclFilter {
            resource_type,
            // The cluster has one name, so --cluster means every cluster binding, including a
            // wildcard one (herald-broker's ACL file writes `cluster *`).
            resource_name: (resource_type != ResourceType::Cluster).then(|| resource_name.clone()),
            pattern_type: pattern(args.prefixed),
            principal: args.principal.clone(),
            host: args.host.clone(),
            operation,
            permission,
        })
        .collect();
    let results = ffi::delete(admin, &filters, client.timeout)
        .map_err(call_failed("removing ACLs", client))?;
    let mut removed = Vec::new();
    let mut refused = Vec::new();
    for result in results {
        let matched = result.with_context(|| format!("removing ACLs at {}", client.brokers))?;
        for Deleted {
            binding,
            refused: refusal,
        } in matched
        {
            match refusal {
                None => removed.push(binding),
                Some(refusal) => refused.push((binding, refusal)),
            }
        }
    }
    removed.sort();
    match output {
        OutputFormat::Json => print_json(&json!({
            "removed": removed.iter().map(AclBinding::to_json).collect::<Vec<_>>(),
            "refused": refusals_json(&refused),
        })),
        OutputFormat::Table if removed.is_empty() && refused.is_empty() => {
            println!("no binding matched")
        }
        OutputFormat::Table if !removed.is_empty() => print_bindings(&removed, output),
        OutputFormat::Table => {}
    }
    fail_on_refusals("remove", &refused)
}
