// Evaluate IAM requests offline with @cloud-copilot/iam-simulate (AGPL-3.0, a test-time dev dependency).
// stdin: JSON list of {id, simulation}; stdout: JSON list of {id, decision, errors, allow, deny}.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'))

function statementIds(analysis, kind) {
  const ids = []
  for (const part of ['identityAnalysis', 'resourceAnalysis']) {
    const statements = analysis?.[part]?.[kind] ?? []
    for (const s of statements) ids.push(`${part.replace('Analysis', '')}:${s.policyId ?? ''}:${s.explain?.identifier ?? '?'}`)
  }
  return ids
}

const out = []
for (const { id, simulation } of cases) {
  const response = await runSimulation(simulation, {})
  if (response.resultType === 'error') {
    out.push({ id, decision: 'Error', errors: response.errors })
  } else if (response.resultType === 'single') {
    const analysis = response.result.analysis
    out.push({
      id,
      decision: response.overallResult,
      allow: statementIds(analysis, 'allowStatements'),
      deny: statementIds(analysis, 'denyStatements'),
    })
  } else {
    out.push({ id, decision: response.overallResult, allow: [], deny: [] })
  }
}
process.stdout.write(JSON.stringify(out))
