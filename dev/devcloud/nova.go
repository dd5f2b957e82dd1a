package devcloud

// routeCompute registers Nova v2.1 under /compute/v2.1.
func (c *Cloud) routeCompute() {}
