-- Argo CD health of a Switchboard object (PhoneNumber, IncomingCallPolicy, EscalationChain,
-- Schedule), from its Ready condition. health-checks.yaml carries this script for each kind.
local hs = {}
if obj.status ~= nil then
  if obj.status.observedGeneration ~= nil and obj.metadata.generation ~= nil
      and obj.status.observedGeneration < obj.metadata.generation then
    hs.status = "Progressing"
    hs.message = "The operator has not processed the latest change yet"
    return hs
  end
  if obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == "Ready" then
        if c.status == "True" then
          hs.status = "Healthy"
        elseif c.status == "False" then
          hs.status = "Degraded"
        else
          hs.status = "Progressing"
        end
        hs.message = (c.reason or "") .. ": " .. (c.message or "")
        return hs
      end
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the Switchboard operator to report Ready"
return hs
