package devcloud

// routeObjectStore registers Swift v1 under /object-store/v1/AUTH_{project_id}.
func (c *Cloud) routeObjectStore() {}
