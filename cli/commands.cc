// The one command table (commands.h).
#include "commands.h"

#include "ehr/config.h"

namespace ehr::cli {

const std::vector<NounSpec>& noun_table() {
  static const std::vector<NounSpec> nouns = {
      {"patient", "register, find and update patients",
       "  ehr patient add --given Zoe --family Nunez --birth-date 1984-02-29 --mrn A1001\n"
       "  ehr patient find --name nunez --format csv\n"
       "  ehr patient show A1001\n"
       "  man ehr-patient"},
      {"record", "add, show, amend and retract clinical records",
       "  ehr record add --patient A1001 --type vital --code 29463-7 --value 72.5 --unit kg\n"
       "  ehr record show --patient A1001\n"
       "  ehr record history Observation/3c1d...\n"
       "  man ehr-record"},
      {"user", "users, their roles and whether they may open the database",
       "  ehr key new -o bob.key && ehr user add bob --role physician --new-key-file bob.key\n"
       "  ehr user list\n"
       "  ehr user disable bob\n"
       "  man ehr-user"},
      {"policy", "the access policy: show, apply, explain a decision",
       "  ehr policy show > policy.yaml\n"
       "  ehr policy apply policy.yaml\n"
       "  ehr policy check --action read --type Observation --patient A1001\n"
       "  man ehr-policy"},
      {"care", "decision support: preventive care due, medication-allergy and lab checks",
       "  ehr care due --patient A1001\n"
       "  ehr care check --patient A1001\n"
       "  man ehr-care"},
      {"audit", "the tamper-evident audit trail: show, export, disclosures, verify, checkpoint",
       "  ehr audit show --patient A1001 --since 2026-01-01\n"
       "  ehr audit verify --checkpoint /var/log/syslog\n"
       "  ehr audit disclosures --patient A1001\n"
       "  man ehr-audit"},
      {"db", "inspect, verify, back up and re-key the database",
       "  ehr db info\n"
       "  ehr db check\n"
       "  ehr db backup --to /backup/clinic-$(date +%F).db\n"
       "  man ehr-db"},
      {"key", "key files and key slots",
       "  ehr key new -o bob.key\n"
       "  ehr key list\n"
       "  ehr key passwd\n"
       "  man ehr-key"},
      {"config", "show the effective configuration",
       "  ehr config show\n"
       "  man ehr-config"},
  };
  return nouns;
}

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> commands = {
      {"init", nullptr, "create a new encrypted database and its first administrator", setup_init},
      {"patient", "add", "register a patient; prints the new id", setup_patient_add},
      {"patient", "show", "one patient's demographics", setup_patient_show, true},
      {"patient", "find", "search patients by name, birth date, identifier, MRN or phone", setup_patient_find, true},
      {"patient", "list", "every patient", setup_patient_list, true},
      {"patient", "update", "change a patient's demographics (a new version)", setup_patient_update},
      {"patient", "team", "add, remove or list the members of a patient's care team", setup_patient_team},
      {"patient", "duplicates", "pairs of patients that may be one person: the review queue and a scan (exit 3 when any)",
       setup_patient_duplicates},
      {"patient", "merge", "merge one patient's records into another's (undone by unmerge)", setup_patient_merge},
      {"patient", "unmerge", "undo a merge exactly", setup_patient_unmerge},
      {"patient", "not-duplicate", "record that two patients are different people", setup_patient_not_duplicate},
      {"record", "add", "record vitals, labs, problems, allergies, medications, ...", setup_record_add},
      {"record", "show", "a patient's whole record, complete and unpaged", setup_record_show, true},
      {"record", "list", "records across patients, newest change first", setup_record_list, true},
      {"record", "history", "every version of a record: who, when, why", setup_record_history},
      {"record", "amend", "correct a record (a new version)", setup_record_amend},
      {"record", "retract", "mark a record entered-in-error (kept, hidden)", setup_record_retract},
      {"record", "purge", "remove a record's content, leaving a tombstone", setup_record_purge},
      {"user", "add", "create a user with roles and a first key slot", setup_user_add},
      {"user", "list", "every user, their roles, status and key slots", setup_user_list},
      {"user", "show", "one user (default: yourself)", setup_user_show},
      {"user", "disable", "remove a user's key slots so they cannot open the database", setup_user_disable},
      {"user", "enable", "let a disabled user in again with a new key slot", setup_user_enable},
      {"user", "grant", "add roles to a user", setup_user_grant},
      {"user", "revoke", "take roles from a user", setup_user_revoke},
      {"care", "due", "patients due or overdue for preventive care (exit 3 when any)", setup_care_due},
      {"care", "check", "one patient's medication-allergy conflicts and abnormal labs", setup_care_check},
      {"care", "rules", "the decision-support rules, their sources and versions", setup_care_rules},
      {"policy", "show", "print the access policy in force", setup_policy_show},
      {"policy", "list", "every applied version of the policy", setup_policy_list},
      {"policy", "apply", "validate and install a new policy version", setup_policy_apply},
      {"policy", "check", "explain whether a user may do an action on a record", setup_policy_check},
      {"import", nullptr, "import FHIR Bundles, Bulk Data NDJSON, Synthea CSV or mapped CSV", setup_import},
      {"export", nullptr, "export records as FHIR Bulk Data NDJSON, CSV, or one patient's Bundle, atomically", setup_export},
      {"audit", "show", "audit entries, filtered by patient, user, action, time or emergency", setup_audit_show},
      {"audit", "export", "audit entries as FHIR R4 AuditEvent NDJSON", setup_audit_export},
      {"audit", "disclosures", "the accounting of disclosures of one patient", setup_audit_disclosures},
      {"audit", "emergencies", "break-the-glass grants and the accesses under each", setup_audit_emergencies},
      {"audit", "verify", "recompute the audit chain; check signed checkpoints", setup_audit_verify},
      {"audit", "checkpoint", "sign the audit trail's head, to keep elsewhere", setup_audit_checkpoint},
      {"db", "info", "format, size and key slots of the database", setup_db_info},
      {"db", "check", "authenticate every page and run the integrity check", setup_db_check},
      {"db", "backup", "write an online, consistent, encrypted copy", setup_db_backup},
      {"db", "recover", "save the files aside and reopen past a damaged WAL frame", setup_db_recover},
      {"db", "rotate-key", "re-encrypt the database under a new data key", setup_db_rotate_key},
      {"key", "new", "write a new random key file", setup_key_new},
      {"key", "list", "list the key slots", setup_key_list},
      {"key", "add", "add a key slot (passphrase, key file or recovery code)", setup_key_add},
      {"key", "remove", "remove a key slot", setup_key_remove},
      {"key", "passwd", "change the passphrase of your key slot", setup_key_passwd},
      {"config", "show", "print every setting, its value and where it came from", setup_config_show},
  };
  return commands;
}

CLI::Option* add_config_flag(CLI::App& cmd, ConfigFlags& flags, const std::string& key) {
  for (const auto& k : config_keys()) {
    if (k.name != key) continue;
    flags.storage.push_back(std::make_unique<std::string>());
    std::string help = k.description;
    if (!k.env.empty()) help += " [env " + k.env + "]";
    CLI::Option* opt = cmd.add_option(k.flag, *flags.storage.back(), help);
    if (!k.values.empty()) opt->check(CLI::IsMember(k.values));
    opt->type_name(k.values.empty() ? (k.path ? "PATH" : "TEXT") : "CHOICE");
    flags.options.emplace_back(key, opt);
    return opt;
  }
  return nullptr;
}

}  // namespace ehr::cli
